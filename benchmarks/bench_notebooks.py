"""Benchmark 3: wall time of every lesson and solution notebook, top to bottom, fresh kernel each.

    python benchmarks/bench_notebooks.py                       # notebooks/ and solutions/
    python benchmarks/bench_notebooks.py notebooks/01_*.ipynb  # just these
    python benchmarks/bench_notebooks.py --cold-bank           # first run: bank not yet built

Notebooks run one after another (never two at once: they would share the 2 cores), each in
a new kernel started by nbclient from this Python environment, working directory = the
notebook's folder, outputs discarded (the files are not modified). By default the model bank
is built (or found in the cache) first and its time reported on its own line: the table then
shows what a learner sees once the bank exists. --cold-bank skips that step, so whichever
notebook loads the bank first pays for building it (what a learner's very first run costs).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (puts the repository on sys.path)
import nbformat
from _common import REPO, command_line, machine
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

EACH_LIMIT_S = 300.0
ALL_LIMIT_S = 1200.0
BANK_SNIPPET = (
    "import time; t = time.perf_counter(); from vaecourse.bank import load_bank; b = load_bank(progress=False); "
    "print(f'{time.perf_counter() - t:.1f} {b.build_seconds:.1f}')"
)


def default_notebooks() -> list[Path]:
    return sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb"))


def warm_bank() -> str:
    """Load the bank in a fresh process (building it if missing); a line for the report."""
    out = subprocess.run([sys.executable, "-c", BANK_SNIPPET], capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        return f"- model bank: could not be loaded ({out.stderr.strip().splitlines()[-1:]})"
    seconds, build = (float(v) for v in out.stdout.split()[-2:])
    if seconds > 0.5 * build:
        return f"- model bank: built now in **{seconds:.0f} s** (first run only; cached afterwards)"
    return f"- model bank: already cached, loaded in {seconds:.1f} s (its build took {build:.0f} s)"


def children_cpu_seconds() -> float:
    """CPU seconds used by finished child processes (the kernels, once shut down and reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_notebook(path: Path, timeout: int) -> tuple[float, float, str]:
    """(wall s, kernel CPU s, 'ok' or the failing cell's error) for one top-to-bottom execution."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start, cpu = time.perf_counter(), children_cpu_seconds()
    try:
        client.execute()
        status = "ok"
    except CellExecutionError as err:
        status = "error: " + (str(err).strip().splitlines() or ["?"])[-1][:120]
    except Exception as err:  # noqa: BLE001  (a timeout or a dead kernel is a result to report)
        status = f"{type(err).__name__}: {str(err)[:120]}"
    return time.perf_counter() - start, children_cpu_seconds() - cpu, status


def table(rows: list[tuple[Path, float, float, str]]) -> str:
    lines = ["| notebook | wall time | kernel CPU | ≤ 5 min | status |", "|---|---|---|---|---|"]
    for path, seconds, cpu, status in rows:
        ok = "✅" if seconds <= EACH_LIMIT_S and status == "ok" else "❌"
        lines.append(f"| `{path.relative_to(REPO)}` | {seconds / 60:.1f} min ({seconds:.0f} s) | {cpu:.0f} s | "
                     f"{ok} | {status} |")
    total, total_cpu = sum(r[1] for r in rows), sum(r[2] for r in rows)
    ok = "✅" if total <= ALL_LIMIT_S else "❌"
    lines.append(f"| **all {len(rows)}** | **{total / 60:.1f} min** ({total:.0f} s) | {total_cpu:.0f} s | "
                 f"{ok} ≤ 20 min | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/ and solutions/)")
    parser.add_argument("--cold-bank", action="store_true", help="do not build/load the bank first")
    parser.add_argument("--timeout", type=int, default=900, help="per-cell limit in seconds")
    args = parser.parse_args()
    paths = [p.resolve() for p in args.paths] or default_notebooks()
    print(f"## Notebooks\n\n`{command_line()}`\n\n{machine()}\n")
    if not paths:
        print("No notebooks found under notebooks/ or solutions/.")
        return
    if not args.cold_bank:
        print(warm_bank() + "\n", flush=True)
    rows = []
    for path in paths:
        seconds, cpu, status = run_notebook(path, args.timeout)
        rows.append((path, seconds, cpu, status))
        print(f"<!-- {path.name}: {seconds:.0f} s, {status} -->", flush=True)
    print("\n" + table(rows))


if __name__ == "__main__":
    main()
