"""A learner's session in JupyterLab + headless Chromium, for each lesson notebook.

Open the notebook, Run > Run All Cells, wait for the kernel to be idle, check that no cell shows
an error, then move the β (02) and latent-dimension (03) sliders with the keyboard and check that
the rendered picture changed. Screenshots go to artifacts/browser/<test>/.
The harness is itself tested on fixtures that must pass, and on broken ones that must fail.
The kernel is the dev venv's (ipywidgets 8): JupyterLab 4's widget manager (jupyterlab_widgets 3)
only registers the ipywidgets 8 model modules, so an ipywidgets 7 kernel (Colab's) shows
"Module @jupyter-widgets/controls, version ^1.5.0 is not registered" there. Colab's versions are
tested without a browser, in tests/colab/.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .labdriver import CellError, NoRedraw, learner_session

pytestmark = pytest.mark.browser

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LESSONS = ["00_start_here.ipynb", "01_reconstruction_loss.ipynb",
           "02_vae_objective.ipynb", "03_latent_space.ipynb", "04_best_model.ipynb"]
REQUIRED_SLIDERS = {"02_vae_objective.ipynb": ("beta",), "03_latent_space.ipynb": ("latent",)}
RUN_TIMEOUT_S = float(os.environ.get("VAECOURSE_BROWSER_RUN_TIMEOUT", 900))
REDRAW_TIMEOUT_S = float(os.environ.get("VAECOURSE_BROWSER_REDRAW_TIMEOUT", 60))


def lesson_names() -> list[str]:
    """The planned lessons, plus any other numbered notebook that has landed."""
    found = {p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    return sorted(set(LESSONS) | found)


def test_harness_passes_sliders_that_redraw(open_notebook):
    notebook = open_notebook("fixtures/slider_redraws.ipynb")
    moved = learner_session(notebook, ("beta", "latent"), RUN_TIMEOUT_S, REDRAW_TIMEOUT_S)
    assert moved == {"beta": 1, "latent": 1}


def test_course_explorers_redraw_in_the_browser(open_notebook):
    notebook = open_notebook("fixtures/course_widgets.ipynb")
    moved = learner_session(notebook, ("beta", "latent"), RUN_TIMEOUT_S, REDRAW_TIMEOUT_S)
    assert moved == {"beta": 1, "latent": 1}


def test_harness_fails_on_slider_that_does_not_redraw(open_notebook):
    notebook = open_notebook("fixtures/slider_frozen.ipynb")
    with pytest.raises(NoRedraw, match="beta view to show a new picture"):
        learner_session(notebook, ("beta",), RUN_TIMEOUT_S, redraw_timeout_s=10)


def test_harness_fails_on_cell_error(open_notebook):
    notebook = open_notebook("fixtures/cell_error.ipynb")
    with pytest.raises(CellError) as failure:
        learner_session(notebook, (), RUN_TIMEOUT_S, REDRAW_TIMEOUT_S)
    assert "cell 3: ZeroDivisionError" in str(failure.value)
    assert "cell 2: 1 widget(s) did not render" in str(failure.value)
    assert "cell 4 was not executed" in str(failure.value)


@pytest.mark.parametrize("name", lesson_names())
def test_lesson_runs_and_sliders_redraw(open_notebook, name):
    if not (NOTEBOOKS / name).exists():
        pytest.skip(f"notebooks/{name} does not exist yet (being written); "
                    "it is picked up automatically when it lands")
    notebook = open_notebook(f"lessons/{name}")
    learner_session(notebook, REQUIRED_SLIDERS.get(name, ()), RUN_TIMEOUT_S, REDRAW_TIMEOUT_S)
