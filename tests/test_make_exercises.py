"""vaecourse.make_exercises: exercises/ is generated from solutions/, and CI fails on drift."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vaecourse.checks import ASSIGNMENTS, REGISTRY, exercises_for, run_check
from vaecourse.make_exercises import (
    ANSWER_PROMPT,
    BEGIN,
    END,
    GenerationError,
    drift,
    generate,
    main,
    make_exercise,
    stub_code,
    stub_markdown,
)

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"


def test_committed_exercises_match_the_generator():
    """The drift test: edit solutions/, then run `python -m vaecourse.make_exercises`."""
    assert drift(generate(SOLUTIONS, EXERCISES), EXERCISES) == []


def test_one_notebook_per_assignment_with_every_exercise():
    assert sorted(p.stem for p in SOLUTIONS.glob("*.ipynb")) == list(ASSIGNMENTS)
    assert sorted(p.stem for p in EXERCISES.glob("*.ipynb")) == list(ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(EXERCISES / f"{assignment}.ipynb", as_version=4)
        checked = [c.metadata["vaecourse"]["check"] for c in nb.cells if "check" in c.metadata.get("vaecourse", {})]
        assert checked == [ex.name for ex in exercises_for(assignment)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_solutions_show_a_pass_for_every_check(assignment):
    """Solutions are committed executed (nbval compares these outputs): each check cell says ✅."""
    nb = nbformat.read(SOLUTIONS / f"{assignment}.ipynb", as_version=4)
    shown = [o.get("text", "") for c in nb.cells if c.cell_type == "code" and "check(" in c.source for o in c.outputs]
    assert shown == [f"✅ {ex.name}: correct\n" for ex in exercises_for(assignment)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_show_not_attempted_and_hide_the_solutions(assignment):
    solution = nbformat.read(SOLUTIONS / f"{assignment}.ipynb", as_version=4)
    exercise = nbformat.read(EXERCISES / f"{assignment}.ipynb", as_version=4)
    for cell in exercise.cells:
        if cell.cell_type == "code" and "check" in cell.metadata.get("vaecourse", {}):
            name = cell.metadata["vaecourse"]["check"]
            assert [o.text for o in cell.outputs] == [run_check(name, _stub).line() + "\n"]
            assert cell.execution_count is not None  # nbval compares only cells with a count
        elif cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    inside = {ln.strip() for c in solution.cells for ln in _solution_lines(c.source)}
    outside = {ln.strip() for c in solution.cells for ln in stub_code_or_markdown(c).splitlines()}
    shown = {ln.strip() for c in exercise.cells for ln in c.source.splitlines()}
    assert not (inside - outside) & shown  # no line that only a solution has
    assert BEGIN not in nbformat.writes(exercise)


def _stub(*args, **kwargs):
    raise NotImplementedError


def stub_code_or_markdown(cell) -> str:
    """The cell's source without its solution blocks."""
    if cell.cell_type == "code" and BEGIN in cell.source:
        return stub_code(cell.source)
    return stub_markdown(cell.source) if cell.cell_type == "markdown" else cell.source


def _solution_lines(source: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() in (BEGIN, END):
            inside = line.strip() == BEGIN
        elif inside:
            lines.append(line)
    return lines


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_badge_and_colab_install(folder, assignment):
    nb = nbformat.read(ROOT / folder / f"{assignment}.ipynb", as_version=4)
    url = f"https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/{folder}/{assignment}.ipynb"
    assert url in nb.cells[0].source
    install = next(c for c in nb.cells if c.cell_type == "code").source
    assert 'if "google.colab" in sys.modules:' in install
    assert "%pip install -q git+https://github.com/vaecourse/vaecourse" in install
    assert "-U" not in install and "--upgrade" not in install  # never upgrade Colab's torch or ipywidgets


def test_stub_code_keeps_the_signature_and_indentation():
    source = (
        "def f(x):\n"
        '    """Doc."""\n'
        "    for i in range(3):\n"
        f"        {BEGIN}\n"
        "        x = x + i\n"
        f"        {END}\n"
        "    return x\n"
    )
    assert stub_code(source) == (
        "def f(x):\n"
        '    """Doc."""\n'
        "    for i in range(3):\n"
        "        # YOUR CODE HERE\n"
        '        raise NotImplementedError("f is not written yet")\n'
        "    return x\n"
    )
    namespace: dict = {}
    exec(stub_code(source), namespace)  # the stub is valid Python that raises when called
    with pytest.raises(NotImplementedError, match="f is not written yet"):
        namespace["f"](1)


@pytest.mark.parametrize("source, message", [
    (f"def f():\n    {BEGIN}\n    pass\n", "without"),
    (f"def f():\n    {END}\n", "without"),
    (f"def f():\n    {BEGIN}\n    {BEGIN}\n", "nested"),
    (f"{BEGIN}\nx = 1\n{END}\n", "inside a function"),
])
def test_stub_code_rejects_broken_markers(source, message):
    with pytest.raises(GenerationError, match=message):
        stub_code(source)


def test_stub_markdown():
    source = f"Which loss?\n\n{BEGIN}\nBCE, because...\nand more.\n{END}\nThanks."
    assert stub_markdown(source) == f"Which loss?\n\n{ANSWER_PROMPT}\nThanks."


def _tiny_solution(check_source: str | None = None) -> nbformat.NotebookNode:
    lerp = REGISTRY["lerp"]
    cells = [
        new_markdown_cell("[badge](https://colab.research.google.com/github/vaecourse/vaecourse/blob/main/solutions/03_latent_space.ipynb)"),
    ]
    for ex in exercises_for("03_latent_space"):
        cells.append(new_code_cell(f"def {ex.function}(*args):\n    {BEGIN}\n    return 1\n    {END}"))
        cells.append(new_code_cell(ex.check_source, outputs=[nbformat.v4.new_output("stream", text="✅\n")],
                                   execution_count=7))
    if check_source is not None:
        index = next(i for i, c in enumerate(cells) if c.source == lerp.check_source)
        cells[index].source = check_source
    return new_notebook(cells=cells)


def test_make_exercise_rewrites_badge_outputs_and_metadata():
    nb = make_exercise(_tiny_solution(), "03_latent_space")
    assert "/blob/main/exercises/03_latent_space.ipynb" in nb.cells[0].source
    assert nb.metadata["vaecourse"]["assignment"] == "03_latent_space"
    exercise_cells = [c for c in nb.cells if "exercise" in c.metadata.get("vaecourse", {})]
    assert [c.metadata["vaecourse"]["exercise"] for c in exercise_cells][:2] == [["latent_sweep"], ["find_elbow"]]
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code" and c.execution_count]
    assert counts == list(range(1, len(exercise_cells) + 1))


@pytest.mark.parametrize("check_source", ['# NBVAL_CHECK_OUTPUT\ncheck("lerp", slerp)', 'check("lerp", lerp)', "pass"])
def test_make_exercise_refuses_a_wrong_check_cell(check_source):
    with pytest.raises(GenerationError, match="check cell"):
        make_exercise(_tiny_solution(check_source), "03_latent_space")


def test_cli_check_reports_drift_and_regenerates(tmp_path, capsys):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(_tiny_solution(), solutions / "03_latent_space.ipynb")
    args = ["--solutions", str(solutions), "--exercises", str(exercises)]
    assert main([*args, "--check"]) == 1
    assert "03_latent_space.ipynb: differs from what the generator writes (missing)" in capsys.readouterr().err
    assert main(args) == 0
    assert main([*args, "--check"]) == 0
    edited = nbformat.read(exercises / "03_latent_space.ipynb", as_version=4)
    edited.cells[2].source += "\n# a student's note"
    nbformat.write(edited, exercises / "03_latent_space.ipynb")
    assert main([*args, "--check"]) == 1
    assert "(cell 3: source)" in capsys.readouterr().err
    assert main(args) == 0
    (exercises / "99_orphan.ipynb").write_text("{}")
    assert main([*args, "--check"]) == 1
    assert "99_orphan.ipynb: has no solution notebook" in capsys.readouterr().err
