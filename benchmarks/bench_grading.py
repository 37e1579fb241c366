"""Benchmark 5: grading a class — N generated submissions of one assignment with `vaecourse.grade`.

    python benchmarks/bench_grading.py                                 # 100 submissions of 01, --jobs 2
    python benchmarks/bench_grading.py --n 10 --assignment 03_latent_space

The class is generated from solutions/ and exercises/: about 60 % correct (the solution
notebook, as a learner who finished would submit it), 25 % partial (the exercise notebook with
a random subset of the exercises solved), 15 % broken (a syntax error, a cell that raises, a file
that is not a notebook). Grading is the CLI's code path: a fresh kernel per submission, the
released and hidden checks, one CSV row each. The script checks that every submission got its
row and that every correct one scored full marks, then prints a Markdown section for RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import _common  # noqa: F401  (puts the repository on sys.path)
import nbformat
from _common import REPO, command_line, machine

from vaecourse import grade
from vaecourse.checks import exercises_for

KINDS = (("correct", 0.60), ("partial", 0.25), ("syntax_error", 0.05), ("exception", 0.05), ("not_a_notebook", 0.05))


def _solved(exercise_nb: nbformat.NotebookNode, solution_nb: nbformat.NotebookNode, names: set[str]):
    """The exercise notebook with the cells of the exercises in `names` replaced by the solution's code."""
    by_id = {c.id: c.source for c in solution_nb.cells}
    nb = copy.deepcopy(exercise_nb)
    for cell in nb.cells:
        defined = set(cell.metadata.get("vaecourse", {}).get("exercise", []))
        if defined & names:
            cell.source = "\n".join(ln for ln in by_id[cell.id].splitlines() if "SOLUTION" not in ln)
    return nb


def submission(kind: str, assignment: str, rng: random.Random) -> nbformat.NotebookNode | bytes:
    """One generated submission of `kind`."""
    solution = nbformat.read(REPO / "solutions" / f"{assignment}.ipynb", as_version=4)
    exercise = nbformat.read(REPO / "exercises" / f"{assignment}.ipynb", as_version=4)
    names = [ex.name for ex in exercises_for(assignment)]
    if kind == "correct":
        return solution
    if kind == "not_a_notebook":
        return b"my answers are in the PDF\n"
    nb = _solved(exercise, solution, set(rng.sample(names, k=rng.randint(1, len(names) - 1))))
    cells = [c for c in nb.cells if c.metadata.get("vaecourse", {}).get("exercise")]
    broken = rng.choice(cells)
    if kind == "syntax_error":
        broken.source = broken.source.replace("):", ")", 1)
    elif kind == "exception":
        broken.source += "\n\nraise RuntimeError('I was debugging')"
    return nb


def make_class(n: int, assignment: str, folder: Path, seed: int) -> dict[str, str]:
    """Write n submissions into folder; {path: kind}."""
    rng = random.Random(seed)
    kinds = [k for k, _ in KINDS][:n] + rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS], k=n)
    kinds = kinds[:n]  # one of each kind first, then drawn with the weights
    paths = {}
    for i, kind in enumerate(kinds):
        path = folder / f"student{i:03d}_{assignment}.ipynb"
        content = submission(kind, assignment, rng)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            nbformat.write(content, path)
        paths[str(path)] = kind
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions in the class (default 100)")
    parser.add_argument("--assignment", default="01_reconstruction_losses")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="which class is generated")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        kinds = make_class(args.n, args.assignment, Path(tmp), args.seed)
        config = grade.GradeConfig(args.assignment, args.jobs, hidden_seed=12345)
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        _, exercises, rows = grade.grade(list(kinds), config)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    max_total = sum(ex.points for ex in exercises)
    full = [r for r in rows if kinds[r.submission] == "correct"]
    assert len(rows) == args.n, "every submission gets its row"
    assert all(sum(r.points(ex) for ex in exercises) == max_total for r in full), "a correct submission lost points"
    counts = Counter(kinds.values())
    print(f"## Grading a class ({args.assignment})\n\n{machine()}\n\n`{command_line()}`\n")
    print("| submissions | kinds | jobs | wall | per submission | worker CPU | projected 100 |")
    print("|---|---|---|---|---|---|---|")
    kinds_text = ", ".join(f"{k} {counts[k]}" for k, _ in KINDS if counts[k])
    print(f"| {args.n} | {kinds_text} | {args.jobs} | {wall:.0f} s | {wall / args.n:.1f} s | {cpu:.0f} s | "
          f"{wall / args.n * 100 / 60:.1f} min |")
    statuses = Counter(r.status.split(":")[0] for r in rows)
    print(f"\nStatuses: {dict(statuses)}. Every correct submission scored {max_total:g} / {max_total:g}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
