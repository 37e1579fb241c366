"""Rebuild the grading corpus: `python tests/grading_corpus/build_corpus.py`.

Every submission is derived from exercises/02_vae_objective.ipynb (what students receive) and
the solutions, without the data-loading and training demo cells, so that grading one takes
seconds. tests/test_grade.py states what the grader must make of each file.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ASSIGNMENT = "02_vae_objective"


def _meta(cell, key):
    return cell.metadata.get("vaecourse", {}).get(key)


def base() -> nbformat.NotebookNode:
    """The exercise notebook with stubs, minus its demos; the import cell loads no data."""
    nb = nbformat.read(ROOT / "exercises" / f"{ASSIGNMENT}.ipynb", as_version=4)
    kept = []
    for cell in nb.cells:
        graded = _meta(cell, "exercise") or _meta(cell, "check")
        demo = "skip_if_unfinished():" in cell.source or "runs" in cell.source
        if cell.cell_type == "code" and not graded and demo:
            continue
        if cell.cell_type == "code":  # no dataset and no plotting: faster kernels
            drop = ("x_train", "plotting", "display")
            cell.source = "\n".join(ln for ln in cell.source.splitlines() if not any(d in ln for d in drop))
        kept.append(cell)
    nb.cells = kept
    return nb


def solved(nb, names=None):
    """nb with the exercise cells for `names` (default: all) replaced by the solution code."""
    solutions = nbformat.read(ROOT / "solutions" / f"{ASSIGNMENT}.ipynb", as_version=4)
    by_id = {c.id: c.source for c in solutions.cells}
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        exercise = _meta(cell, "exercise")
        if exercise and (names is None or set(exercise) & set(names)):
            cell.source = "\n".join(ln for ln in by_id[cell.id].splitlines() if "SOLUTION" not in ln)
    return nb


def exercise_cell(nb, name):
    return next(i for i, c in enumerate(nb.cells) if name in (_meta(c, "exercise") or []))


def with_source(nb, name, source):
    nb = copy.deepcopy(nb)
    nb.cells[exercise_cell(nb, name)].source = source
    return nb


def inserted(nb, after_exercise, source):
    nb = copy.deepcopy(nb)
    cell = new_code_cell(source)
    cell.id = "corpus-inserted"  # a fixed id keeps the rebuilt corpus byte-identical
    nb.cells.insert(exercise_cell(nb, after_exercise) + 1, cell)
    return nb


def corpus() -> dict[str, nbformat.NotebookNode | bytes]:
    stubs = base()
    perfect = solved(stubs)
    partial = with_source(solved(stubs, ["kl_divergence", "beta_annealing"]), "vae_loss", (
        "def vae_loss(x_hat, x, mu, logvar, beta=1.0):\n"
        "    recon = F.binary_cross_entropy(x_hat, x)  # forgot reduction='sum'\n"
        "    kl = kl_divergence(mu, logvar)\n"
        "    return recon + beta * kl, recon, kl"))
    deleted = copy.deepcopy(perfect)
    deleted.cells = [c for c in deleted.cells if "free_bits" not in c.source and "Free bits" not in c.source]
    reordered = copy.deepcopy(perfect)
    reordered.cells = reordered.cells[::-1]
    edited = copy.deepcopy(stubs)
    for cell in edited.cells:
        if _meta(cell, "check"):
            cell.source = f'print("✅ {_meta(cell, "check")}: correct")'
    text = nbformat.writes(perfect)
    return {
        "perfect.ipynb": perfect,
        "untouched.ipynb": stubs,
        "partial.ipynb": partial,
        "syntax_error.ipynb": with_source(perfect, "vae_loss", solved(stubs).cells[exercise_cell(stubs, "vae_loss")]
                                          .source.replace("beta=1.0):", "beta=1.0)", 1)),
        "exception.ipynb": inserted(with_source(perfect, "free_bits", (
            "def free_bits_kl(kl_per_dim, free_bits):\n    raise RuntimeError('oops')")), "kl_divergence", "1 / 0"),
        "infinite_loop.ipynb": inserted(perfect, "kl_divergence", "while True:\n    pass"),
        "hanging_function.ipynb": with_source(perfect, "beta_annealing", (
            "def linear_annealing(step, beta_max, warmup_steps):\n    while True:\n        pass")),
        "wedged.ipynb": inserted(perfect, "kl_divergence", (
            "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
            "    except KeyboardInterrupt:\n        pass")),
        "kernel_crash.ipynb": inserted(perfect, "vae_loss", "import os\nos._exit(1)"),
        "huge_output.ipynb": inserted(perfect, "vae_loss", 'print("x" * 50_000_000)'),
        "deleted_cells.ipynb": deleted,
        "reordered_cells.ipynb": reordered,
        "edited_check.ipynb": edited,
        "not_a_notebook.ipynb": b"These are my answers:\n1. KL is -0.5 * sum(...)\n\x00\xff\xfe binary junk\n",
        "truncated_json.ipynb": text[: len(text) // 2].encode(),
        "empty.ipynb": b"",
    }


def main() -> None:
    for name, content in corpus().items():
        path = HERE / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(nbformat.writes(content) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
