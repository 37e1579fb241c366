"""Progress bars stay within what Jupyter and nbval can deliver from one cell.

The CI failure this guards against: notebook 04's 20-epoch `fit` redrew its bar thousands of
times in one cell; nbval lost the cell's last message and failed with "Timeout of 5 seconds
exceeded waiting for output".
"""

import io
import subprocess
import sys

import nbformat
import pytest

from vaecourse.runtime import BAR_REDRAWS, progress_bar


def test_progress_bar_redraws_are_bounded_however_fast_the_loop():
    bar = progress_bar(100_000)
    bar.fp, bar.mininterval = io.StringIO(), 0  # count every redraw the step bound allows
    for _ in range(100_000):
        bar.update(1)
    assert bar.n == 100_000
    assert bar.fp.getvalue().count("\r") <= BAR_REDRAWS + 2


def test_progress_bar_small_totals_still_redraw_every_step():
    bar = progress_bar(10)
    assert bar.miniters == 1


def test_disabled_progress_bar_writes_nothing():
    bar = progress_bar(50, enabled=False)
    bar.update(50)
    assert bar.disable


def _notebook(make_bar: str, steps: int) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"{make_bar}\nbar.mininterval = 0  # redraw as often as the step bound allows\n"
            f"for _ in range({steps}):\n    bar.update(1)\nbar.close()\nprint('finished')"
        ),
        nbformat.v4.new_code_cell("print('next cell')"),
    ]
    return nb


def _nbval(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-q", str(path)],
        capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("bounded", [True, False], ids=["progress_bar", "plain_tqdm"])
def test_a_long_cell_with_a_progress_bar_passes_nbval(tmp_path, bounded):
    """progress_bar passes; a plain tqdm bar redrawing every step fails the same way CI did."""
    steps = 20_000
    make = ("from vaecourse.runtime import progress_bar\nbar = progress_bar(%d)" if bounded
            else "from tqdm.auto import tqdm\nbar = tqdm(total=%d, miniters=1)") % steps
    path = tmp_path / "bar.ipynb"
    nbformat.write(_notebook(make, steps), path)
    result = _nbval(path)
    if bounded:
        assert result.returncode == 0, result.stdout[-3000:]
        assert "2 passed" in result.stdout
    else:
        assert result.returncode != 0
        assert "exceeded waiting for output" in result.stdout
