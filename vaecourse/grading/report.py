"""What a grading run writes: one CSV row and one feedback file per submission."""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from vaecourse.checks import Exercise, Result
from vaecourse.checks.core import ICONS

# The order in which a status lists what happened, most serious first.
STATUS_ORDER = (
    "empty_file", "not_a_notebook", "grader_error", "kernel_died", "notebook_timeout", "cell_timeout",
    "check_timeout", "syntax_error", "cell_error", "output_truncated", "missing_functions", "modified_check_cell",
)
EXPLAIN = {
    "empty_file": "The file is empty.",
    "not_a_notebook": "The file is not a Jupyter notebook, so nothing could be run.",
    "grader_error": "The grader itself failed; ask your instructor.",
    "kernel_died": "The Python kernel crashed; the notebook was re-run without the cell or check that crashed it.",
    "notebook_timeout": "The notebook ran past its total time limit; later cells were not run.",
    "cell_timeout": "A cell ran past its time limit and was interrupted.",
    "check_timeout": "A check of your function ran past its time limit.",
    "syntax_error": "A cell has a syntax error, so nothing in it was defined.",
    "cell_error": "A cell raised an exception.",
    "output_truncated": "A cell printed too much; its output was cut.",
    "missing_functions": "Some functions the exercises ask for are not defined.",
    "modified_check_cell": "A check cell was edited; grading ignores check cells and runs the released checks.",
}


@dataclass
class Row:
    """One graded submission."""

    submission: str
    results: dict[str, Result] = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)  # (code, detail)

    def points(self, exercise: Exercise) -> float:
        """The exercise's points times the fraction of its parts that are right (rounded to 0.01)."""
        result = self.results.get(exercise.name)
        return 0.0 if result is None else round(exercise.points * result.fraction, 2)

    @property
    def status(self) -> str:
        """"ok", or what happened, e.g. "syntax_error: cell 7; cell_error: cell 9: NameError: ..."."""
        events = sorted(self.events, key=lambda e: STATUS_ORDER.index(e[0]) if e[0] in STATUS_ORDER else 99)
        return "; ".join(f"{code}: {detail}" if detail else code for code, detail in events) or "ok"


def _num(value: float) -> str:
    return f"{value:g}"


def write_csv(path: Path, rows: list[Row], exercises: list[Exercise]) -> None:
    """Columns: submission, one per exercise (points), total, max_total, status."""
    path.parent.mkdir(parents=True, exist_ok=True)
    max_total = sum(ex.points for ex in exercises)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *(ex.name for ex in exercises), "total", "max_total", "status"])
        for row in rows:
            points = [row.points(ex) for ex in exercises]
            writer.writerow([row.submission, *map(_num, points), _num(sum(points)), _num(max_total), row.status])


def feedback_text(row: Row, exercises: list[Exercise], assignment: str) -> str:
    """Readable feedback in Markdown: the score, each check's message, and what happened."""
    points = [row.points(ex) for ex in exercises]
    lines = [f"# Feedback on {row.submission}", "",
             f"Assignment `{assignment}`: **{_num(sum(points))} / {_num(sum(ex.points for ex in exercises))}** points.",
             "", "## Exercises", ""]
    for ex, got in zip(exercises, points):
        result = row.results.get(ex.name) or Result(ex.name, "fail", "not graded (see below).")
        lines.append(f"- {result.line()} ({_num(got)} / {_num(ex.points)})")
    if row.events:
        lines += ["", "## What happened", ""]
        for code in dict.fromkeys(code for code, _ in row.events):
            details = [d for c, d in row.events if c == code and d]
            lines.append(f"- {EXPLAIN.get(code, code)}" + (f" ({'; '.join(details)})" if details else ""))
    return "\n".join(lines) + "\n"


def feedback_html(row: Row, exercises: list[Exercise], assignment: str) -> str:
    """The same feedback as one self-contained HTML page (inline style, no scripts, no links)."""
    points = [row.points(ex) for ex in exercises]
    rows = []
    for ex, got in zip(exercises, points):
        result = row.results.get(ex.name) or Result(ex.name, "fail", "not graded (see below).")
        rows.append(f"<tr><td>{ICONS[result.status]}</td><td><code>{html.escape(ex.name)}</code></td>"
                    f"<td class=n>{_num(got)} / {_num(ex.points)}</td><td>{html.escape(result.message)}</td></tr>")
    happened = "".join(f"<li>{html.escape(EXPLAIN.get(c, c))}{f' ({html.escape(d)})' if d else ''}</li>"
                       for c, d in row.events)
    title = html.escape(f"Feedback on {row.submission}")
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{title}</title><style>{_CSS}</style>"
            f"</head><body><h1>{title}</h1><p>Assignment <code>{html.escape(assignment)}</code>: "
            f"<b>{_num(sum(points))} / {_num(sum(ex.points for ex in exercises))}</b> points.</p>"
            f"<table><tr><th></th><th>exercise</th><th>points</th><th>feedback</th></tr>{''.join(rows)}</table>"
            + (f"<h2>What happened</h2><ul>{happened}</ul>" if happened else "") + "</body></html>\n")


_CSS = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.4rem;vertical-align:top;"
        "text-align:left}.n{white-space:nowrap}")


def gradescope_results(row: Row, exercises: list[Exercise], visibility: str = "visible") -> dict:
    """Gradescope's results.json for one submission: the score, one test per exercise, what happened."""
    tests = []
    for number, ex in enumerate(exercises, start=1):
        result = row.results.get(ex.name) or Result(ex.name, "fail", "not graded (see the output above).")
        tests.append({"name": ex.name, "number": str(number), "score": row.points(ex), "max_score": ex.points,
                      "status": "passed" if result.status == "pass" else "failed",
                      "output": f"{ICONS[result.status]} {result.message}", "visibility": visibility})
    output = "\n".join(f"{EXPLAIN.get(c, c)}{f' ({d})' if d else ''}" for c, d in row.events)
    return {"score": sum(t["score"] for t in tests), "output": output or "Graded.", "visibility": visibility,
            "stdout_visibility": "hidden", "tests": tests}


def write_gradescope(path: Path, row: Row, exercises: list[Exercise]) -> None:
    """Write gradescope_results(row, exercises) to `path` (/autograder/results/results.json on Gradescope)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gradescope_results(row, exercises), indent=1, ensure_ascii=False), encoding="utf-8")


def feedback_names(submissions: list[str]) -> list[str]:
    """A distinct file name per submission: its path with separators replaced, plus ".md"."""
    names = []
    for s in submissions:
        base = Path(s).as_posix().lstrip("./").replace("/", "__") or "submission"
        name, k = base + ".md", 1
        while name in names:
            k += 1
            name = f"{base}-{k}.md"
        names.append(name)
    return names
