"""vaecourse.grade: every submission of the corpus gets a row, the right points and an honest status.

The corpus (tests/grading_corpus/, rebuilt by build_corpus.py) derives from exercises/02_vae_objective.
The kernel-free cases run always; grading the notebooks starts ~15 kernels and is marked slow.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from vaecourse import grade
from vaecourse.checks import REGISTRY, exercises_for
from vaecourse.grading.execute import Limits
from vaecourse.checks import Result
from vaecourse.grading.report import Row, feedback_html, feedback_names, feedback_text, gradescope_results, write_csv
from vaecourse.make_exercises import released_demos
from vaecourse.grading.submission import NotANotebook, check_cell_name, detect_assignment, prepare, read_submission

CORPUS = Path(__file__).parent / "grading_corpus"
ASSIGNMENT = "02_vae_objective"
EXTRA = CORPUS / "instructor_checks.py"
COLUMNS = ["kl_divergence", "vae_loss", "beta_annealing", "free_bits", "kl_matches_torch"]
ALL = [2, 2, 1, 2, 1]
NONE = [0, 0, 0, 0, 0]
# submission: (points per column, status codes, text the status must contain)
EXPECTED = {
    "perfect": (ALL, set(), "ok"),
    "untouched": (NONE, set(), "ok"),
    "partial": ([2, 0.67, 1, 0, 1], set(), "ok"),  # vae_loss: its KL is right in 3 of 9 parts
    "syntax_error": ([2, 0, 1, 2, 1], {"syntax_error", "missing_functions"}, "SyntaxError: expected ':' (line 1)"),
    "exception": ([2, 2, 1, 0, 1], {"cell_error"}, "ZeroDivisionError"),
    "infinite_loop": (ALL, {"cell_timeout"}, "cell_timeout: cell 6"),
    "hanging_function": ([2, 2, 0, 2, 1], {"check_timeout"}, "check_timeout: beta_annealing"),
    "wedged": (ALL, {"cell_timeout"}, "ignored the interrupt and was skipped"),
    "kernel_crash": (ALL, {"kernel_died"}, "kernel_died: cell 10"),
    "huge_output": (ALL, {"output_truncated"}, "output_truncated: cell 10"),
    "deleted_cells": ([2, 2, 1, 0, 1], {"missing_functions"}, "missing_functions: free_bits_kl"),
    "reordered_cells": (ALL, set(), "ok"),
    "edited_check": (NONE, {"modified_check_cell"}, "modified_check_cell: cell 6"),
    "not_a_notebook": (NONE, {"not_a_notebook"}, "not_a_notebook"),
    "truncated_json": (NONE, {"not_a_notebook"}, "not_a_notebook"),
    "empty": (NONE, {"empty_file"}, "empty_file"),
    # shortcuts (issue #15): each scores 0 on the exercises it games, with the reason in the feedback
    "shortcut_reference": (NONE, set(), "ok"),
    "shortcut_library": ([0, 0, 1, 2, 0], set(), "ok"),
    "shortcut_constant": (NONE, set(), "ok"),
    "shortcut_hardcoded": (NONE, set(), "ok"),
}
HIDDEN_SEED = 20261204
NO_KERNEL = ["not_a_notebook", "truncated_json", "empty"]
LIMITS = Limits(cell_timeout=20, notebook_timeout=120, check_timeout=20, max_output_bytes=100_000, interrupt_grace=5)


def _codes(status: str) -> set[str]:
    return set() if status == "ok" else {part.split(":")[0] for part in status.split("; ")}


def _grade(names: list[str], tmp_path: Path, jobs: int = 2) -> dict[str, dict]:
    """Grade corpus files through the CLI's code path; {name: CSV row as a dict}."""
    paths = [str(CORPUS / f"{n}.ipynb") for n in names]
    config = grade.GradeConfig(ASSIGNMENT, jobs, LIMITS, (str(EXTRA),), threads_per_job=1, hidden_seed=HIDDEN_SEED)
    assignment, exercises, rows = grade.grade(paths, config)
    write_csv(tmp_path / "grades.csv", rows, exercises)
    grade.write_feedback(tmp_path / "feedback", rows, exercises, assignment)
    with (tmp_path / "grades.csv").open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    return {Path(r["submission"]).stem: r for r in table}


def _assert_row(name: str, row: dict) -> None:
    points, codes, text = EXPECTED[name]
    assert [float(row[c]) for c in COLUMNS] == points, (name, row)
    assert float(row["total"]) == sum(points) and float(row["max_total"]) == 8
    assert _codes(row["status"]) == codes, (name, row["status"])
    assert text in row["status"], (name, row["status"])


@pytest.fixture(autouse=True)
def _forget_extra_checks():
    yield
    REGISTRY.pop("kl_matches_torch", None)


def test_corpus_covers_every_case():
    assert {p.stem for p in CORPUS.glob("*.ipynb")} == set(EXPECTED)


def test_files_that_are_not_notebooks_get_a_row_each(tmp_path):
    table = _grade(NO_KERNEL, tmp_path, jobs=1)
    assert list(table["empty"]) == ["submission", *COLUMNS, "total", "max_total", "status"]
    for name in NO_KERNEL:
        _assert_row(name, table[name])
    feedback = (tmp_path / "feedback" / f"{(CORPUS / 'empty.ipynb').as_posix().lstrip('/').replace('/', '__')}.md")
    assert "The file is empty." in feedback.read_text()


@pytest.mark.slow
def test_corpus(tmp_path):
    """~15 kernels with --jobs 2: about 1.5 min on an idle 2-core machine, several under load."""
    table = _grade([n for n in EXPECTED if n not in NO_KERNEL], tmp_path)
    for name, row in table.items():
        _assert_row(name, row)
    feedback = {p.name.split("__")[-1]: p.read_text() for p in (tmp_path / "feedback").iterdir()}
    assert "a hidden β" in feedback["partial.ipynb.md"]  # the check's hint reaches the student
    assert "A check cell was edited" in feedback["edited_check.ipynb.md"]
    assert "⏳ free_bits: `free_bits_kl` is not defined" in feedback["deleted_cells.ipynb.md"]
    reference = feedback["shortcut_reference.ipynb.md"]
    for called in ("vaecourse.losses.kl_divergence", "vaecourse.losses.vae_loss", "vaecourse.losses.linear_annealing",
                   "vaecourse.losses.free_bits_kl"):  # free_bits_kl even though the submission catches the error
        assert f"your function calls `{called}`, which this exercise asks you to write yourself" in reference
    assert "calls `torch.distributions.kl.kl_divergence`" in feedback["shortcut_library.ipynb.md"]
    hard_coded = feedback["shortcut_hardcoded.ipynb.md"]
    assert hard_coded.count("right on the released inputs, wrong on the grader's hidden ones") == 4


def test_cli_writes_csv_and_feedback(tmp_path, capsys):
    out, fb = tmp_path / "g.csv", tmp_path / "fb"
    code = grade.main([str(CORPUS / "empty.ipynb"), str(CORPUS / "not_a_notebook.ipynb"), "--out", str(out),
                       "--feedback-dir", str(fb), "--assignment", ASSIGNMENT])
    assert code == 0
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["submission", *COLUMNS[:4], "total", "max_total", "status"]
    assert [r[-1] for r in rows[1:]] == ["empty_file: the file is empty",
                                         "not_a_notebook: not a Jupyter notebook (UnicodeDecodeError)"]
    assert len(list(fb.glob("*.md"))) == len(list(fb.glob("*.html"))) == 2
    assert "Graded 2 submissions" in capsys.readouterr().err


def test_cli_needs_an_assignment_it_can_recognise(tmp_path, capsys):
    assert grade.main([str(CORPUS / "empty.ipynb"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "pass --assignment" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


@pytest.mark.parametrize("content, code", [
    (b"", "empty_file"), (b"  \n", "empty_file"), (b"\xff\xfe\x00", "not_a_notebook"),
    (b'{"cells": [', "not_a_notebook"), (b'{"a": 1}', "not_a_notebook"), (b"[1, 2]", "not_a_notebook"),
])
def test_read_submission_rejects(tmp_path, content, code):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotANotebook) as info:
        read_submission(path)
    assert info.value.event.code == code


def test_read_submission_missing_file(tmp_path):
    with pytest.raises(NotANotebook, match="cannot read"):
        read_submission(tmp_path / "nope.ipynb")


def test_detect_assignment(tmp_path):
    assignments = ("01_reconstruction_losses", ASSIGNMENT)
    tagged = read_submission(CORPUS / "perfect.ipynb")
    assert detect_assignment(tagged, Path("x.ipynb"), assignments) == ASSIGNMENT
    plain = new_notebook(cells=[new_code_cell("def bce_loss(x_hat, x, reduction='sum'):\n    pass")])
    assert detect_assignment(plain, Path("x.ipynb"), assignments) == "01_reconstruction_losses"
    assert detect_assignment(plain, Path(f"{ASSIGNMENT}_alice.ipynb"), assignments) == ASSIGNMENT
    assert detect_assignment(new_notebook(), Path("x.ipynb"), assignments) is None


def test_prepare_drops_released_check_cells_and_flags_edited_ones():
    kl = REGISTRY["kl_divergence"]
    nb = new_notebook(cells=[
        new_code_cell("def kl_divergence(mu, logvar, reduction='sum'):\n    pass", outputs=[], execution_count=3),
        new_code_cell(kl.check_source, metadata={"vaecourse": {"check": "kl_divergence"}}),
        new_code_cell('print("✅ vae_loss: correct")', metadata={"vaecourse": {"check": "vae_loss"}}),
        new_code_cell('check("free_bits", free_bits_kl)'),  # unmarked but a pure check cell
    ])
    run, events = prepare(nb)
    assert [c.metadata["vaecourse_grader"] for c in run.cells] == [1, 3]
    assert run.cells[0].execution_count is None
    assert [(e.code, e.detail) for e in events] == [("modified_check_cell", "cell 3")]
    assert len(nb.cells) == 4  # the submission itself is left alone


def test_check_cell_name():
    assert check_cell_name(new_code_cell('# comment\ncheck("lerp", lerp)')) == "lerp"
    assert check_cell_name(new_code_cell('def f():\n    pass\ncheck("lerp", lerp)')) is None
    assert check_cell_name(new_code_cell("x = 1")) is None


def test_status_and_csv(tmp_path):
    exercises = exercises_for(ASSIGNMENT)
    assert Row("a").status == "ok"
    row = Row("b", events=[("cell_error", "cell 2: NameError: x"), ("syntax_error", "cell 1: SyntaxError: y")])
    assert row.status == "syntax_error: cell 1: SyntaxError: y; cell_error: cell 2: NameError: x"
    write_csv(tmp_path / "g.csv", [row], exercises)
    lines = (tmp_path / "g.csv").read_text().splitlines()
    assert lines[0] == "submission,kl_divergence,vae_loss,beta_annealing,free_bits,total,max_total,status"
    assert lines[1].startswith("b,0,0,0,0,0,7,")
    assert "0 / 7" in feedback_text(row, exercises, ASSIGNMENT)


def test_feedback_names_are_distinct():
    names = feedback_names(["a/x.ipynb", "b/x.ipynb", "a/x.ipynb"])
    assert names == ["a__x.ipynb.md", "b__x.ipynb.md", "a__x.ipynb-2.md"]


def test_worker_time_limit_covers_every_stage():
    limits = Limits(cell_timeout=1, notebook_timeout=10, check_timeout=2, interrupt_grace=1, startup_timeout=5)
    assert limits.hard_limit(4) > 10 + 4 * 2
    assert json.loads(json.dumps(limits.__dict__)) == limits.__dict__  # travels to the worker as JSON


def test_interrupted_grading_keeps_every_row(tmp_path, monkeypatch):
    def fake_grade_one(path, exercises, config, marker):
        if "second" in path:
            raise KeyboardInterrupt
        return Row(path)

    monkeypatch.setattr(grade, "grade_one", fake_grade_one)
    paths = ["first.ipynb", "second.ipynb", "third.ipynb"]
    config = grade.GradeConfig(ASSIGNMENT, jobs=1)
    with pytest.raises(grade.GradingInterrupted) as info:
        grade.grade(paths, config)
    _, _, rows = info.value.result
    assert [r.status for r in rows] == ["ok"] + ["grader_error: grading was interrupted"] * 2

    out = tmp_path / "g.csv"
    assert grade.main([*paths, "--out", str(out), "--assignment", ASSIGNMENT]) == 130  # Ctrl-C, CSV still written
    assert len(out.read_text().splitlines()) == 4


def test_partial_credit_feedback_html_and_gradescope(tmp_path):
    exercises = exercises_for(ASSIGNMENT)
    row = Row("alice <x>.ipynb", results={
        "kl_divergence": Result("kl_divergence", "pass", "correct"),
        "vae_loss": Result("vae_loss", "fail", "[recon, beta=1.0] on vae_loss(...): expected 1, got 2 < 3. Hint: "
                                                "sum the BCE (6 of 9 parts right)", 0.6667),
        "beta_annealing": Result("beta_annealing", "todo", "not attempted yet"),
    }, events=[("cell_error", "cell 4: NameError: x")])
    assert [row.points(ex) for ex in exercises] == [2, 1.33, 0, 0]
    write_csv(tmp_path / "g.csv", [row], exercises)
    assert (tmp_path / "g.csv").read_text().splitlines()[1].startswith('alice <x>.ipynb,2,1.33,0,0,3.33,7,')
    page = feedback_html(row, exercises, ASSIGNMENT)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page
    assert "alice &lt;x&gt;.ipynb" in page and "got 2 &lt; 3. Hint: sum the BCE" in page and "1.33 / 2" in page
    assert "A cell raised an exception. (cell 4: NameError: x)" in page
    results = gradescope_results(row, exercises)
    assert results["score"] == pytest.approx(3.33)
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in results["tests"]] == [
        ("kl_divergence", 2, 2.0, "passed"), ("vae_loss", 1.33, 2.0, "failed"),
        ("beta_annealing", 0.0, 1.0, "failed"), ("free_bits", 0.0, 2.0, "failed")]
    assert results["tests"][1]["output"].startswith("❌ [recon, beta=1.0]") and results["visibility"] == "visible"
    assert "A cell raised an exception" in results["output"]
    json.dumps(results)  # what Gradescope reads


def test_cli_writes_gradescope_results(tmp_path):
    out = tmp_path / "results" / "results.json"
    code = grade.main([str(CORPUS / "empty.ipynb"), "--out", str(tmp_path / "g.csv"), "--assignment", ASSIGNMENT,
                       "--gradescope", str(out)])
    assert code == 0
    results = json.loads(out.read_text())
    assert results["score"] == 0 and len(results["tests"]) == 4 and "The file is empty." in results["output"]
    two = [str(CORPUS / "empty.ipynb")] * 2
    assert grade.main([*two, "--assignment", ASSIGNMENT, "--gradescope", str(out)]) == 2


def test_released_demo_cells_are_skipped_unless_edited():
    demos = released_demos(ASSIGNMENT)
    demo = sorted(demos)[0]
    nb = new_notebook(cells=[new_code_cell("import torch"), new_code_cell(demo), new_code_cell(demo + "\nprint(1)")])
    run, events = prepare(nb, demos)
    assert [c.source for c in run.cells] == ["import torch", demo + "\nprint(1)"] and events == []
    assert len(prepare(nb)[0].cells) == 3  # --run-demos


@pytest.mark.slow
def test_reference_runs_are_computed_once_for_the_class():
    from vaecourse.checks import fixtures

    fixtures.REFERENCE_RESULTS.clear()
    references = grade.precompute(exercises_for("03_latent_space"), hidden_seed=3)
    assert sorted(k.split(":")[0] for k in references) == ["latent_sweep", "latent_sweep"]  # released and hidden
    assert all(len(v) == 2 and all(e > 0 for e in v.values()) for v in references.values())


def test_a_learner_never_loads_the_grader():
    """A check cell imports vaecourse.checks: the grader, its worker and the generator stay out of the kernel."""
    import subprocess
    import sys

    code = ("import sys, vaecourse, vaecourse.checks; print(sorted(m for m in sys.modules if m.startswith("
            "('vaecourse.grade', 'vaecourse.grading', 'vaecourse.make_exercises'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_worker_process_does_not_import_torch():
    """Each submission's worker only drives a kernel: importing torch there would cost seconds per student."""
    import subprocess
    import sys

    code = "import sys, vaecourse.grading.worker; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


@pytest.mark.slow
def test_the_constant_sweep_of_issue_15_scores_zero(tmp_path):
    """03_latent_space with `latent_dim_sweep = lambda *a, **k: {1: 10.0, 16: 5.0}`: 0 for the sweep, the rest full."""
    config = grade.GradeConfig("03_latent_space", 1, LIMITS, threads_per_job=1, hidden_seed=HIDDEN_SEED)
    _, exercises, (row,) = grade.grade([str(CORPUS / "03" / "latent_sweep_constant.ipynb")], config)
    points = {ex.name: row.points(ex) for ex in exercises}
    assert points.pop("latent_sweep") == 0 and all(points[ex.name] == ex.points for ex in exercises if ex.name in points)
    assert "a reference run of the same seed gives {1: " in row.results["latent_sweep"].message
