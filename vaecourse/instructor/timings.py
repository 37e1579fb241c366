"""Per-cell run times of the saved lesson notebooks, for the instructor's lecture plans.

Read from each code cell's `metadata.execution` (iopub.execute_input → shell.execute_reply,
written by nbclient / JupyterLab at the notebook's last real run); nothing is re-executed.
`python -m vaecourse.instructor.timings` prints a table per lesson and flags live cells over 30 s.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
LIVE_LIMIT_S = 30.0  # a cell run live in a lecture should answer within this


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def cell_seconds(cell) -> float | None:
    """Wall seconds of a code cell's last saved run, or None when the notebook has no timing."""
    execution = cell.get("metadata", {}).get("execution", {})
    try:
        return (_stamp(execution["shell.execute_reply"]) - _stamp(execution["iopub.execute_input"])).total_seconds()
    except (KeyError, ValueError):
        return None


def lesson_times(path: Path) -> list[tuple[int, str, float | None]]:
    """(cell index, first code line, seconds) for each code cell of the notebook at `path`."""
    nb = nbformat.read(path, as_version=4)
    rows = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            lines = [l for l in cell.source.splitlines() if l.strip() and not l.startswith("# NBVAL")]
            rows.append((index, (lines[0] if lines else "")[:70], cell_seconds(cell)))
    return rows


def report(path: Path) -> str:
    """A text table of the code cells' times; cells over LIVE_LIMIT_S are marked."""
    rows = lesson_times(path)
    known = [s for _, _, s in rows if s is not None]
    lines = [f"{path.name}: {len(rows)} code cells, {sum(known):.0f} s in all"]
    for index, first, seconds in rows:
        shown = "   ?" if seconds is None else f"{seconds:6.1f}"
        flag = "  > 30 s: show the saved output" if seconds is not None and seconds > LIVE_LIMIT_S else ""
        lines.append(f"  cell {index:3d} {shown} s  {first}{flag}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the timing table of each lesson notebook."""
    parser = argparse.ArgumentParser(description="Per-cell times of the saved lesson notebooks.")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks or sorted((REPO / "notebooks").glob("0*.ipynb")):
        print(report(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
