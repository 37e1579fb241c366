"""Read a submission, recognise its assignment, and prepare a copy to execute."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode


MAX_FILE_BYTES = 200_000_000
CHECK_CALL = re.compile(r"""check\(\s*["'](?P<name>[\w-]+)["']\s*,\s*\w+\s*\)""")
CELL_KEY = "vaecourse_grader"  # cell metadata: the cell's 1-based position in the submission


@dataclass(frozen=True)
class Event:
    """Something that happened to a submission: code (e.g. "syntax_error") and a short detail."""

    code: str
    detail: str = ""


class NotANotebook(Exception):
    """The file cannot be graded as a notebook; `event` says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.event = Event(code, detail)


def read_submission(path: Path) -> NotebookNode:
    """The notebook in `path`, or NotANotebook (empty file, not JSON, not nbformat, unreadable)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise NotANotebook("not_a_notebook", f"file larger than {MAX_FILE_BYTES // 1_000_000} MB")
        data = path.read_bytes()
    except OSError as e:
        raise NotANotebook("not_a_notebook", f"cannot read the file ({type(e).__name__})") from None
    if not data.strip():
        raise NotANotebook("empty_file", "the file is empty")
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as e:  # noqa: BLE001 - every parsing failure is the same verdict for a grader
        raise NotANotebook("not_a_notebook", f"not a Jupyter notebook ({type(e).__name__})") from None
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(_valid_cell(c) for c in cells):
        raise NotANotebook("not_a_notebook", "the notebook's cells are malformed")
    return nb


def _valid_cell(cell: object) -> bool:
    return isinstance(cell, dict) and cell.get("cell_type") in ("code", "markdown", "raw") \
        and isinstance(cell.get("source"), str)


def detect_assignment(nb: NotebookNode, path: Path, assignments: tuple[str, ...]) -> str | None:
    """The assignment from the notebook's metadata, else its file name, else the functions it defines."""
    tagged = nb.get("metadata", {}).get("vaecourse", {}).get("assignment")
    if tagged in assignments:
        return tagged
    named = [a for a in assignments if path.name.startswith(a)]
    if named:
        return named[0]
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    defined = set(re.findall(r"^\s*def\s+(\w+)\s*\(", source, flags=re.MULTILINE))
    from vaecourse.checks import REGISTRY  # here, not at the top: the worker process never needs torch

    votes = {a: sum(ex.function in defined for ex in REGISTRY.values() if ex.assignment == a) for a in assignments}
    best = max(votes, key=votes.get, default=None)
    return best if best is not None and votes[best] > 0 else None


def check_cell_name(cell: NotebookNode) -> str | None:
    """The exercise a check cell checks: from the generator's metadata, else from its source."""
    if cell.cell_type != "code":
        return None
    tagged = cell.get("metadata", {}).get("vaecourse", {}).get("check")
    if tagged:
        return str(tagged)
    lines = _code_lines(cell.source)
    names = [m.group("name") for ln in lines if (m := CHECK_CALL.fullmatch(ln))]
    return names[0] if names and len(names) == len(lines) else None


def _code_lines(source: str) -> list[str]:
    """The stripped lines that are neither blank nor comments."""
    return [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def prepare(nb: NotebookNode, demos: frozenset[str] = frozenset()) -> tuple[NotebookNode, list[Event]]:
    """A copy to execute: outputs cleared, released check cells dropped; events for edited ones.

    The grader runs the released checks itself, so check cells are not needed. A check cell whose
    source was edited is kept (it may now hold the learner's code) and reported. Code cells whose
    source is one of `demos` (the released demo cells, unchanged) are dropped too: they train and
    plot, and no grade depends on them; a demo the learner edited still runs.
    """
    run, events = copy.deepcopy(nb), []
    from vaecourse.checks import REGISTRY  # here, not at the top: the worker process never needs torch

    released = {ex.name: _code_lines(ex.check_source) for ex in REGISTRY.values()}
    kept = []
    for position, cell in enumerate(run.cells, start=1):
        cell.setdefault("metadata", {})[CELL_KEY] = position
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        name = check_cell_name(cell)
        if name is not None and _code_lines(cell.source) == released.get(name):
            continue
        if cell.cell_type == "code" and cell.source.strip() in demos:
            continue
        if name is not None and cell.metadata.get("vaecourse", {}).get("check"):
            events.append(Event("modified_check_cell", f"cell {position}"))
        kept.append(cell)
    run.cells = kept
    return run, events


def cell_position(cell: NotebookNode) -> int:
    """The cell's 1-based position in the submitted notebook."""
    return int(cell.get("metadata", {}).get(CELL_KEY, 0))
