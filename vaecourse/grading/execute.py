"""Execute one prepared submission in a fresh kernel, then run the released checks in it.

Limits: each cell gets `cell_timeout` seconds and the learner's cells together `notebook_timeout`;
a cell over its limit is interrupted (KeyboardInterrupt) and the notebook goes on. A cell that
kills the kernel, or ignores the interrupt, is skipped: a fresh kernel replays the notebook
without it. Outputs beyond `max_output_bytes` per cell are dropped. Each check gets
`check_timeout` seconds and runs on the function of its name in the notebook's globals.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Any

from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output

from vaecourse.grading.submission import Event, cell_position

SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")
MAX_ATTEMPTS = 3  # fresh kernels per submission: each skips one more fatal cell or check


@dataclass(frozen=True)
class Limits:
    """Time in seconds, output in bytes; kernel_name as `jupyter kernelspec list` shows it."""

    cell_timeout: float = 300.0
    notebook_timeout: float = 900.0
    check_timeout: float = 120.0
    max_output_bytes: int = 1_000_000
    interrupt_grace: float = 10.0
    startup_timeout: float = 60.0
    kernel_name: str = "python3"

    def hard_limit(self, n_checks: int) -> float:
        """Seconds after which the whole grading of one submission is abandoned."""
        per_attempt = self.startup_timeout + (n_checks + 1) * (self.check_timeout + self.interrupt_grace)
        return self.notebook_timeout + MAX_ATTEMPTS * per_attempt + 30


class CappedClient(NotebookClient):
    """A NotebookClient that stores at most `max_output_bytes` of output per cell."""

    def __init__(self, nb: NotebookNode, max_output_bytes: int, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.max_output_bytes = max_output_bytes
        self.output_bytes: dict[int, int] = defaultdict(int)
        self.truncated: set[int] = set()

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        if msg["msg_type"] == "error":  # always keep the error, with a short traceback
            msg = copy.deepcopy(msg)
            msg["content"]["traceback"] = msg["content"].get("traceback", [])[-20:]
            return super().output(outs, msg, display_id, cell_index)
        if cell_index in self.truncated:
            return None
        self.output_bytes[cell_index] += _size(msg["content"])
        if self.output_bytes[cell_index] > self.max_output_bytes:
            self.truncated.add(cell_index)
            text = f"[output truncated by the grader after {self.max_output_bytes} bytes]\n"
            outs.append(new_output("stream", name="stderr", text=text))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _size(content: dict) -> int:
    if "text" in content:
        return len(content["text"])
    data = content.get("data", {})
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())


@dataclass
class _Attempt:
    events: list[Event] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)
    fatal: tuple[str, Any] | None = None  # ("cell", position) or ("check", name)


def run_submission(
    nb: NotebookNode, names: list[str], limits: Limits, extra_checks: list[str], workdir: Path, marker: str,
    hidden_seed: int | None = None, references: dict | None = None,
) -> dict:
    """{"events": [...], "results": {name: Result dict}} for the prepared notebook `nb`.

    hidden_seed: the checks also run on hidden inputs drawn from it (None: released inputs only).
    references: the training checks' reference runs, computed once for the class (see grade.precompute).
    """
    deadline = monotonic() + limits.notebook_timeout
    skip: set[tuple[str, Any]] = set()
    events: list[Event] = []
    attempt = _Attempt()
    for _ in range(MAX_ATTEMPTS):
        checks = {"extra": list(extra_checks), "hidden_seed": hidden_seed, "references": references or {}}
        attempt = _attempt(copy.deepcopy(nb), names, limits, checks, workdir, marker, deadline, skip)
        events += [e for e in attempt.events if e not in events]
        if attempt.fatal is None:
            break
        skip.add(attempt.fatal)
    for kind, name in skip:
        if kind == "check":
            message = "the check stopped the kernel (it crashed or could not be interrupted)."
            attempt.results[name] = _failed(name, message)
    return {"events": [e.__dict__ for e in events], "results": attempt.results}


def _attempt(nb: NotebookNode, names: list[str], limits: Limits, checks: dict, workdir: Path, marker: str,
             deadline: float, skip: set) -> _Attempt:
    client = CappedClient(
        nb, limits.max_output_bytes, kernel_name=limits.kernel_name, allow_errors=True, interrupt_on_timeout=False,
        startup_timeout=int(limits.startup_timeout), shutdown_kernel="immediate", record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    attempt = _Attempt()
    try:
        client.km = client.create_kernel_manager()
        client.start_new_kernel()
        client.start_new_kernel_client()
        attempt.fatal = _run_cells(client, limits, deadline, skip, attempt.events)
        attempt.events += [Event("output_truncated", f"cell {cell_position(nb.cells[i])}")
                           for i in sorted(client.truncated)]
        if attempt.fatal is None:
            attempt.fatal = _run_checks(client, names, limits, checks, marker, skip, attempt)
    except Exception as e:  # noqa: BLE001 - e.g. the kernel could not start
        attempt.events.append(Event("grader_error", f"kernel: {type(e).__name__}: {str(e)[:200]}"))
    finally:
        if client.km is not None:  # None: nbclient already shut a stuck kernel down
            client._cleanup_kernel()
    return attempt


def _run_cells(client: CappedClient, limits: Limits, deadline: float, skip: set, events: list[Event]):
    """Run the learner's cells in order; returns ("cell", position) if one must be skipped next time."""
    cells = list(enumerate(client.nb.cells))
    for index, cell in cells:
        position = cell_position(cell)
        if cell.cell_type != "code" or not cell.source.strip() or ("cell", position) in skip:
            continue
        remaining = deadline - monotonic()
        if remaining < 1:
            events.append(Event("notebook_timeout", f"stopped before cell {position}"))
            return None
        outcome = _execute(client, cell, index, min(limits.cell_timeout, remaining))
        if outcome == "dead":
            events.append(Event("kernel_died", f"cell {position}"))
            return ("cell", position)
        if outcome == "timeout":
            code = "cell_timeout" if limits.cell_timeout < remaining else "notebook_timeout"
            if not _interrupt(client, limits):
                events.append(Event(code, f"cell {position} ignored the interrupt and was skipped"))
                return ("cell", position)
            events.append(Event(code, f"cell {position}"))
            if code == "notebook_timeout":
                return None
        elif (error := _error(cell)) is not None:
            code = "syntax_error" if error[0] in SYNTAX_ERRORS else "cell_error"
            events.append(Event(code, f"cell {position}: {error[0]}: {_short(error[1])}"))
    return None


def _execute(client: CappedClient, cell: NotebookNode, index: int, timeout: float) -> str:
    """"ok", "timeout" (the cell is still running: call `_interrupt`) or "dead"."""
    client.timeout = max(1, math.ceil(timeout))
    try:
        client.execute_cell(cell, index)
    except CellTimeoutError:
        return "timeout"
    except DeadKernelError:
        return "dead"
    return "ok"


def _interrupt(client: CappedClient, limits: Limits) -> bool:
    """Interrupt the running cell; True once the kernel answers again, False if nbclient shut it down.

    nbclient leaves the output reader of a timed-out cell behind, and it would swallow the
    outputs of later cells, so the client reconnects on fresh channels.
    """
    run_sync(client.km.interrupt_kernel)()
    client.kc.stop_channels()
    client.kc = None
    saved, client.startup_timeout = client.startup_timeout, max(1, math.ceil(limits.interrupt_grace))
    try:
        client.start_new_kernel_client()
        return True
    except Exception:  # noqa: BLE001 - the kernel ignored the interrupt
        return False
    finally:
        client.startup_timeout = saved


def _short(message: str) -> str:
    """An error message without IPython's per-cell file name, e.g. "(3936811751.py, line 1)"."""
    return re.sub(r" \([^()]*?\d+\.py, line (\d+)\)", r" (line \1)", message)[:120]


def _error(cell: NotebookNode) -> tuple[str, str] | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), out.get("evalue", "")
    return None


GRADING_SETUP = """\
import sys as _vcg_sys, json as _vcg_json
for _vcg_m in [m for m in list(_vcg_sys.modules) if m == "vaecourse.checks" or m.startswith("vaecourse.checks.")]:
    del _vcg_sys.modules[_vcg_m]
import vaecourse.checks as _vcg_checks
_vcg_checks.set_hidden_seed({hidden_seed!r})
_vcg_checks.fixtures.REFERENCE_RESULTS.update({references!r})
for _vcg_path in {extra!r}:
    _vcg_checks.load_extra_checks(_vcg_path)
def _vcg_emit(name, _ns=globals(), _checks=_vcg_checks, _json=_vcg_json, _out=_vcg_sys.stdout):
    _out.write({marker!r} + _json.dumps(_checks.grade_in_namespace(name, _ns).as_dict()) + "\\n")
    _out.flush()
"""


def _run_checks(client: CappedClient, names: list[str], limits: Limits, checks: dict, marker: str, skip: set,
                attempt: _Attempt):
    """Run each released check in the kernel; returns ("check", name) if one must be skipped next time."""
    source = GRADING_SETUP.format(marker=marker, **checks)
    setup = _grading_cell(client, source)
    if _execute(client, setup, len(client.nb.cells) - 1, limits.check_timeout) != "ok" or _error(setup):
        error = _error(setup) or ("Timeout", "")
        attempt.events.append(Event("grader_error", f"could not load the checks: {error[0]}: {error[1][:200]}"))
        return None
    for name in names:
        if ("check", name) in skip:
            continue
        cell = _grading_cell(client, f"_vcg_emit({name!r})")
        outcome = _execute(client, cell, len(client.nb.cells) - 1, limits.check_timeout)
        if outcome == "dead":
            attempt.events.append(Event("kernel_died", f"check {name}"))
            return ("check", name)
        if outcome == "timeout":
            attempt.events.append(Event("check_timeout", name))
            attempt.results[name] = _failed(name, f"the check did not finish within {limits.check_timeout:g} s "
                                                  "(an endless loop in your function?).")
            if not _interrupt(client, limits):
                return ("check", name)
            continue
        attempt.results[name] = _parse_result(cell, name, marker)
    return None


def _grading_cell(client: CappedClient, source: str) -> NotebookNode:
    client.nb.cells.append(new_code_cell(source))
    return client.nb.cells[-1]


def _parse_result(cell: NotebookNode, name: str, marker: str) -> dict:
    for out in cell.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith(marker):
                return json.loads(line[len(marker):])
    error = _error(cell)
    detail = f"{error[0]}: {error[1][:200]}" if error else "no result"
    return _failed(name, f"the grader could not run this check ({detail}).")


def _failed(name: str, message: str) -> dict:
    return {"name": name, "status": "fail", "message": message}
