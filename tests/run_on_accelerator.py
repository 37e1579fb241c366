"""Execute a notebook top to bottom on the pretend accelerator (tests/fake_accelerator.py).

    python tests/run_on_accelerator.py NOTEBOOK [NOTEBOOK ...]

Each notebook runs in a fresh kernel with VAECOURSE_DEVICE=meta and the pretend accelerator
installed by a first cell that is not saved: the package trains and evaluates "on the accelerator",
and any cell that hands an accelerator model a CPU tensor (or plots an accelerator tensor) fails as
it would on a GPU. Prints each notebook's result and the accelerator's peak memory; exit status 1
if any notebook failed. The notebooks on disk are not modified.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

TESTS = Path(__file__).resolve().parent
SETUP = f"""import sys
sys.path.insert(0, {str(TESTS)!r})
import fake_accelerator
fake_accelerator.install()"""
PEAK = "print('PEAK_BYTES', fake_accelerator.peak_bytes())"


def run(path: Path, timeout: int = 1800) -> tuple[bool, str, int]:
    """(passed, message, peak accelerator bytes) for one notebook."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP))
    nb.cells.append(nbformat.v4.new_code_cell(PEAK))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        lines = str(error).strip().splitlines()
        source = next((i for i, line in enumerate(lines) if line.startswith("----")), 0)
        context = " | ".join(line.strip() for line in lines[source:source + 6] if line.strip() and not line.startswith("---"))
        return False, f"{lines[-1][:300]} — in the cell starting: {context[:400]}", 0
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    peak = int(text.split("PEAK_BYTES")[1]) if "PEAK_BYTES" in text else 0
    return True, "ok", peak


def main(argv: list[str]) -> int:
    failed = 0
    for name in argv:
        start = time.perf_counter()
        ok, message, peak = run(Path(name))
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name} ({time.perf_counter() - start:.0f} s, "
              f"accelerator peak {peak / 2**20:.0f} MiB): {message}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
