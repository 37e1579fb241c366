"""The Colab-versions run (.venv-colab, built by make_venv.sh) is what it claims, and it catches
widget code that needs ipywidgets 8. Runs in the main venv; skips without .venv-colab unless
VAECOURSE_COLAB_REQUIRED=1 (set by .ci/colab.sh), where it fails.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLAB_VENV = REPO / os.environ.get("COLAB_VENV", ".venv-colab")
PROBE = "tests/colab/probes/ipywidgets8_only.py"


@pytest.fixture(scope="module")
def colab_python() -> Path:
    python = COLAB_VENV / "bin" / "python"
    if not python.exists():
        reason = f"no {COLAB_VENV.name}: build it with `bash tests/colab/make_venv.sh`"
        (pytest.fail if os.environ.get("VAECOURSE_COLAB_REQUIRED") == "1" else pytest.skip)(reason)
    return python


def run_tests(venv: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLAB_VENV": str(venv)}
    return subprocess.run(["bash", "tests/colab/run_tests.sh", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_colab_venv_has_colabs_widget_stack_and_the_main_torch(colab_python):
    code = ("import IPython, ipywidgets, torch, vaecourse; "
            "print(ipywidgets.__version__, IPython.__version__, torch.__file__, vaecourse.__file__)")
    out = subprocess.run([colab_python, "-c", code], capture_output=True, text=True, check=True)
    widgets_version, ipython_version, torch_file, course_file = out.stdout.split()
    assert (widgets_version, ipython_version) == ("7.7.1", "7.34.0")
    assert Path(torch_file).is_relative_to(REPO / ".venv")  # reused, not downloaded again
    assert Path(course_file).is_relative_to(REPO / "vaecourse")  # this checkout, editable


def test_colab_run_fails_on_widgets_that_need_ipywidgets_8(colab_python):
    done = run_tests(COLAB_VENV, PROBE, "-q")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "3 failed" in done.stdout.splitlines()[-1]


def test_the_same_widgets_pass_on_ipywidgets_8():
    done = run_tests(Path(sys.prefix), PROBE, "-q")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "3 passed" in done.stdout.splitlines()[-1]
