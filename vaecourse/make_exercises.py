"""Generate `exercises/` from `solutions/`: the solution notebooks are the single source.

    python -m vaecourse.make_exercises           # rewrite exercises/*.ipynb
    python -m vaecourse.make_exercises --check   # exit 1 and list the notebooks that differ

In a solution notebook, the code between `### BEGIN SOLUTION` and `### END SOLUTION` (inside a
function) becomes `raise NotImplementedError`; in Markdown it becomes a prompt for an answer.
Outputs are cleared, except that each check cell shows the ⏳ line an unfinished exercise
prints, so that nbval can compare it. Code cells after the first exercise that are neither
exercises nor checks are marked `{"vaecourse": {"demo": true}}`: the grader skips them when a
submission leaves them unchanged (they train and plot; no grade depends on them). The generator refuses a solution notebook whose
exercises and check cells do not match the registry in `vaecourse.checks`.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_output

from vaecourse.checks import Result, exercises_for
from vaecourse.checks.core import TODO_MESSAGE

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
ANSWER_PROMPT = "*Write your answer here.*"
REPO_ROOT = Path(__file__).resolve().parent.parent
CHECK_CELL = re.compile(r"""^check\("(?P<name>[\w-]+)", (?P<function>\w+)\)$""")


class GenerationError(ValueError):
    """A solution notebook breaks a rule the generator relies on."""


def stub_code(source: str, where: str = "") -> str:
    """Replace each solution block with `raise NotImplementedError` at the block's indentation."""
    out, inside, lines = [], False, source.split("\n")
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise GenerationError(f"{where} line {number}: nested {BEGIN}.")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            function = _enclosing_function(lines[:number - 1], len(indent), f"{where} line {number}")
            out += [f"{indent}# YOUR CODE HERE", f'{indent}raise NotImplementedError("{function} is not written yet")']
        elif marker == END:
            if not inside:
                raise GenerationError(f"{where} line {number}: {END} without {BEGIN}.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise GenerationError(f"{where}: {BEGIN} without {END}.")
    return "\n".join(out)


def _enclosing_function(above: list[str], indent: int, where: str) -> str:
    """The name of the innermost `def` above a solution block that is indented deeper than the def."""
    for line in reversed(above):
        match = re.match(r"^(\s*)(?:async\s+)?def\s+(\w+)\s*\(", line)
        if match and len(match.group(1)) < indent:
            return match.group(2)
    raise GenerationError(f"{where}: a solution block must sit inside a function, so that the "
                          "exercise notebook still runs top to bottom.")


def stub_markdown(source: str) -> str:
    """Replace each solution block of a Markdown cell with a prompt for the learner's answer."""
    pattern = re.compile(rf"^[ \t]*{re.escape(BEGIN)}[ \t]*\n.*?^[ \t]*{re.escape(END)}[ \t]*$", re.S | re.M)
    return pattern.sub(ANSWER_PROMPT, source)


def todo_output(name: str) -> NotebookNode:
    """The stdout of check(name, stub): what nbval expects from an exercise's check cell."""
    return new_output("stream", name="stdout", text=Result(name, "todo", TODO_MESSAGE).line() + "\n")


def make_exercise(solution: NotebookNode, assignment: str) -> NotebookNode:
    """The learner's notebook for one solution notebook (which is left unchanged)."""
    nb = copy.deepcopy(solution)
    nb.metadata["vaecourse"] = {"assignment": assignment, "generated_from": f"solutions/{assignment}.ipynb"}
    count, seen_exercise = 0, False
    for position, cell in enumerate(nb.cells, start=1):
        where = f"{assignment}.ipynb cell {position}"
        cell.metadata.pop("execution", None)
        if cell.cell_type == "markdown":
            cell.source = stub_markdown(cell.source).replace("/blob/main/solutions/", "/blob/main/exercises/")
            continue
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        name = _check_name(cell.source)
        if name is not None:
            count += 1
            cell.metadata["vaecourse"] = {"check": name}
            cell.outputs, cell.execution_count = [todo_output(name)], count
        elif BEGIN in cell.source:
            cell.source = stub_code(cell.source, where)
            cell.metadata["vaecourse"] = {"exercise": _exercises_defined(cell.source, assignment, where)}
            seen_exercise = True
        elif seen_exercise:
            cell.metadata["vaecourse"] = {"demo": True}
    _validate(nb, assignment)
    return nb


def _check_name(source: str) -> str | None:
    lines = [ln for ln in source.strip().splitlines() if ln.strip() != "# NBVAL_CHECK_OUTPUT"]
    match = CHECK_CELL.match(lines[0]) if len(lines) == 1 else None
    return match.group("name") if match else None


def _exercises_defined(source: str, assignment: str, where: str) -> list[str]:
    names = [ex.name for ex in exercises_for(assignment) if re.search(rf"^def {ex.function}\(", source, re.M)]
    if not names:
        raise GenerationError(f"{where}: a solution cell defines none of the functions of {assignment}.")
    return names


def _validate(nb: NotebookNode, assignment: str) -> None:
    """Each registered exercise: defined in one exercise cell, checked by one released check cell."""
    defined = [n for c in nb.cells for n in c.metadata.get("vaecourse", {}).get("exercise", [])]
    checks = [c for c in nb.cells if "check" in c.metadata.get("vaecourse", {})]
    for ex in exercises_for(assignment):
        if defined.count(ex.name) != 1:
            raise GenerationError(f"{assignment}: `{ex.function}` must be written in exactly one solution cell.")
        cells = [c for c in checks if c.metadata["vaecourse"]["check"] == ex.name]
        if len(cells) != 1 or cells[0].source.strip() != ex.check_source:
            raise GenerationError(f"{assignment}: needs exactly one check cell reading\n{ex.check_source}")
    stray = {c.metadata["vaecourse"]["check"] for c in checks} - {ex.name for ex in exercises_for(assignment)}
    if stray:
        raise GenerationError(f"{assignment}: check cells for exercises of another notebook: {sorted(stray)}.")


def released_demos(assignment: str, exercises: Path = REPO_ROOT / "exercises") -> frozenset[str]:
    """The sources of the released notebook's demo cells (empty if it is not there)."""
    path = exercises / f"{assignment}.ipynb"
    if not path.exists():
        return frozenset()
    nb = nbformat.read(path, as_version=4)
    return frozenset(c.source.strip() for c in nb.cells if c.metadata.get("vaecourse", {}).get("demo"))


def generate(solutions: Path, exercises: Path) -> dict[Path, str]:
    """{exercise path: notebook text} for every solutions/*.ipynb."""
    out = {}
    for path in sorted(solutions.glob("*.ipynb")):
        solution = nbformat.read(path, as_version=4)
        out[exercises / path.name] = nbformat.writes(make_exercise(solution, path.stem)) + "\n"
    return out


def drift(generated: dict[Path, str], exercises: Path) -> list[str]:
    """Why the committed exercises differ from `generated` (empty when they match)."""
    problems = []
    for path, text in generated.items():
        committed = path.read_text(encoding="utf-8") if path.exists() else None
        if committed != text:
            problems.append(f"{path}: differs from what the generator writes ({_difference(text, committed)})")
    problems += [f"{p}: has no solution notebook" for p in sorted(exercises.glob("*.ipynb")) if p not in generated]
    return problems


def _difference(expected: str, committed: str | None) -> str:
    """Where a committed exercise notebook first differs, e.g. "cell 7: source"."""
    if committed is None:
        return "missing"
    try:
        old = nbformat.reads(committed, as_version=4)
    except Exception:  # noqa: BLE001 - any unreadable file is simply different
        return "not a readable notebook"
    new = nbformat.reads(expected, as_version=4)
    if len(old.cells) != len(new.cells):
        return f"{len(old.cells)} cells instead of {len(new.cells)}"
    for number, (a, b) in enumerate(zip(old.cells, new.cells), start=1):
        keys = [k for k in ("cell_type", "source", "outputs", "execution_count", "metadata") if a.get(k) != b.get(k)]
        if keys:
            return f"cell {number}: {', '.join(keys)}"
    return "notebook metadata or formatting"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaecourse.make_exercises", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on drift")
    parser.add_argument("--solutions", type=Path, default=REPO_ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=REPO_ROOT / "exercises")
    args = parser.parse_args(argv)
    try:
        generated = generate(args.solutions, args.exercises)
    except GenerationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        problems = drift(generated, args.exercises)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("Run `python -m vaecourse.make_exercises` and commit exercises/.", file=sys.stderr)
        return 1 if problems else 0
    args.exercises.mkdir(parents=True, exist_ok=True)
    for path, text in generated.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
