"""Drive a notebook in JupyterLab 4 the way a learner does: open it, Run All, move a slider.

Every wait polls a real condition (kernel state from the server's REST API, cell state from the
notebook model, pixels of the rendered view) against a deadline; nothing relies on a fixed sleep.
The checks raise subclasses of `HarnessFailure`, so the self-tests can assert which one fired.
"""
from __future__ import annotations

import json
import re
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:  # importable without Playwright, so that the tests can skip cleanly
    from playwright.sync_api import Locator, Page

T = TypeVar("T")
POLL_S = 0.25
# ipywidgets 8 renders sliders with noUiSlider, ipywidgets 7 front ends with jQuery UI.
HANDLE, TRACK = ".noUi-handle, .ui-slider-handle", ".noUi-target, .ui-slider"
WIDGET_ERROR = ".jupyter-widgets-error-widget"  # ipywidgets' "Click to show javascript error" box
CELL_XPATH = "contains(concat(' ', normalize-space(@class), ' '), ' jp-Cell ')"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception)\b.*:", re.M)


class HarnessFailure(AssertionError):
    """What a learner would see as broken."""


class CellError(HarnessFailure):
    """A cell shows an error output, or Run All stopped before a cell."""


class SliderDidNotMove(HarnessFailure):
    """The arrow keys did not change the slider's readout."""


class NoRedraw(HarnessFailure):
    """The slider moved but the rendered picture stayed the same."""


class MissingWidget(HarnessFailure):
    """A slider or its view is not on the page."""


def wait_for(condition: Callable[[], T], timeout_s: float, what: str,
             failure: type[Exception] = TimeoutError) -> T:
    """Poll `condition` until it returns something truthy; raise `failure` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise failure(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(POLL_S)


@dataclass
class LabServer:
    """A running Jupyter server: base URL, served root folder, log file."""

    url: str
    root: Path
    log: Path

    def api(self, path: str, method: str = "GET") -> object:
        """JSON from the server's REST API (no token: the test server runs without one)."""
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def kernel_state(self, notebook: str) -> str | None:
        """`execution_state` of the kernel of the session open on `notebook`, if any."""
        for session in self.api("/api/sessions"):
            if session.get("path") == notebook and session.get("kernel"):
                return self.api(f"/api/kernels/{session['kernel']['id']}")["execution_state"]
        return None

    def shutdown_sessions(self) -> None:
        """Stop every kernel so the next notebook starts on a quiet CPU."""
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")


# The notebook model and its cell views, read through the app object that
# `--LabApp.expose_app_in_browser` exposes. `unrendered` counts widget outputs that did not become
# a working widget (ipywidgets' error box, or JupyterLab's fallback to the text repr).
CELLS_JS = """(path) => {
  const panel = Array.from(window.jupyterapp.shell.widgets('main'))
      .find(w => w.context && w.context.path === path);
  if (!panel || !panel.context.isReady) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const widgetMime = 'application/vnd.jupyter.widget-view+json';
  const cells = panel.content.widgets.map(w => {
    const c = w.model, code = c.type === 'code';
    const outputs = code ? c.outputs.toJSON() : [];
    const nodes = code ? Array.from(w.outputArea.node.querySelectorAll(
        ':scope > .jp-OutputArea-child > .jp-OutputArea-output')) : [];
    const unrendered = outputs.filter((o, i) => o.data && o.data[widgetMime] && !(nodes[i] &&
        nodes[i].querySelector('.jupyter-widgets') && !nodes[i].querySelector(WIDGET_ERROR)));
    return {type: c.type, source: c.sharedModel.getSource(),
      count: code ? c.executionCount : null, running: code && c.executionState === 'running',
      errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
      unrendered: unrendered.length};
  });
  return {kernel: kernel ? kernel.status : null, cells};
}""".replace("WIDGET_ERROR", repr(WIDGET_ERROR))

IMAGES_READY_JS = """(el) => {
  const imgs = el.tagName === 'IMG' ? [el] : Array.from(el.querySelectorAll('img'));
  return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


class NotebookPage:
    """One notebook open in one browser tab."""

    def __init__(self, page: Page, server: LabServer, path: str, artifacts: Path) -> None:
        self.page, self.server, self.path, self.artifacts = page, server, path, artifacts
        self.artifacts.mkdir(parents=True, exist_ok=True)

    def shot(self, name: str) -> Path:
        """Full-page screenshot saved as a test artefact."""
        target = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target

    def model(self) -> dict | None:
        return self.page.evaluate(CELLS_JS, self.path)

    def open(self, timeout_s: float = 120) -> None:
        """Open the notebook in a fresh workspace and wait until its kernel is idle."""
        if not (self.server.root / self.path).exists():
            raise MissingWidget(f"{self.path} is not in the served folder {self.server.root}")
        self.page.goto(f"{self.server.url}/lab/tree/{self.path}?reset")
        wait_for(lambda: self.page.evaluate("() => !!window.jupyterapp"), timeout_s, "JupyterLab")
        wait_for(self._kernel_idle_in_page, timeout_s, f"the kernel of {self.path} to be idle")
        wait_for(lambda: self.server.kernel_state(self.path) == "idle", timeout_s,
                 f"the kernel of {self.path} to be idle on the server")
        self.shot("01-opened")

    def _kernel_idle_in_page(self) -> bool:
        accept = self.page.locator(".jp-Dialog .jp-mod-accept")
        if accept.count():  # e.g. "Select Kernel" for a notebook whose metadata names none
            accept.first.click()
        return (self.model() or {}).get("kernel") == "idle"

    def run_all(self, timeout_s: float) -> None:
        """Run > Run All Cells from the menu bar, then wait until every queued cell finished."""
        self.page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        self.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            wait_for(self._finished, timeout_s, f"Run All of {self.path} to finish")
        except TimeoutError as timeout:
            self.shot("02-run-all-timed-out")
            raise TimeoutError(f"{timeout}; {self._progress()}") from None
        self.shot("02-ran-all")

    def _progress(self) -> str:
        model = self.model()
        code = [(i, c) for i, c in enumerate(model["cells"]) if c["type"] == "code"]
        done = sum(c["count"] is not None for _, c in code)
        running = [i for i, c in code if c["running"]]
        return (f"{done} of {len(code)} code cells done, kernel {model['kernel']}, "
                f"waiting on cell {running[0] if running else None}")

    def _finished(self) -> bool:
        model = self.model()
        code = [c for c in model["cells"] if c["type"] == "code" and c["source"].strip()]
        started = not code or code[0]["count"] is not None
        quiet = model["kernel"] == "idle" and not any(c["running"] for c in code)
        return started and quiet and self.server.kernel_state(self.path) == "idle"

    def assert_no_errors(self) -> None:
        """Fail on error outputs, tracebacks or broken widgets on screen, and cells that never ran."""
        cells = self.model()["cells"]
        problems = [f"cell {i}: {e}" for i, c in enumerate(cells) for e in c["errors"]]
        problems += [f"on screen: {t.strip().splitlines()[-1]}" for t in self.visible_tracebacks()]
        problems += [f"cell {i}: {c['unrendered']} widget(s) did not render"
                     for i, c in enumerate(cells) if c["unrendered"]]
        problems += [f"cell {i} was not executed" for i, c in enumerate(cells)
                     if c["type"] == "code" and c["source"].strip() and c["count"] is None]
        if problems:
            raise CellError(f"{self.path}: " + "; ".join(problems))

    def visible_tracebacks(self, scope: Locator | None = None) -> list[str]:
        """stderr outputs (where JupyterLab renders errors) that look like a traceback."""
        where = scope if scope is not None else self.page.locator(".jp-NotebookPanel")
        texts = where.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        return [t for t in texts.all_inner_texts() if TRACEBACK.search(t)]

    def sliders(self, name: str) -> list[tuple[Locator, Locator]]:
        """(slider, view) pairs for `vaecourse-<name>-slider`, each view taken from the slider's cell."""
        sliders = self.page.locator(f".vaecourse-{name}-slider")
        pairs = []
        for slider in sliders.all():
            cell = slider.locator(f"xpath=ancestor::div[{CELL_XPATH}][1]")
            view = cell.locator(f".vaecourse-{name}-view")
            if view.count() != 1:
                raise MissingWidget(f"{self.path}: the cell of a {name} slider has "
                                    f"{view.count()} `.vaecourse-{name}-view` elements, expected 1")
            pairs.append((slider, view))
        return pairs

    def move_and_expect_redraw(self, name: str, slider: Locator, view: Locator,
                               timeout_s: float, tag: str = "") -> None:
        """Press an arrow key on the slider handle; the view's pixels must change and settle."""
        view.scroll_into_view_if_needed()
        wait_for(lambda: view.evaluate(IMAGES_READY_JS), timeout_s, f"the {name} view's image",
                 MissingWidget)
        before = view.screenshot(path=str(self.artifacts / f"03-{name}{tag}-before.png"))
        self._press_until_readout_changes(name, slider)
        try:
            wait_for(lambda: self._settled_new_picture(view, before), timeout_s,
                     f"the {name} view to show a new picture", NoRedraw)
        except NoRedraw as failure:
            self.shot(f"04-{name}{tag}-not-redrawn")
            errors = self.visible_tracebacks(view)
            raise NoRedraw(f"{self.path}: {failure}" + (f"; it shows: {errors}" if errors else ""))
        view.screenshot(path=str(self.artifacts / f"04-{name}{tag}-after.png"))

    def _press_until_readout_changes(self, name: str, slider: Locator) -> None:
        handle, track = slider.locator(HANDLE), slider.locator(TRACK)
        if handle.count() != 1 or track.count() != 1:
            raise MissingWidget(f"{self.path}: {name} slider has {handle.count()} handles")
        readout = slider.locator(".widget-readout")
        start = readout.inner_text()
        # Towards the far end, so that a slider starting at its maximum still moves.
        h, t = handle.bounding_box(), track.bounding_box()
        key = "ArrowLeft" if h["x"] + h["width"] / 2 > t["x"] + t["width"] / 2 else "ArrowRight"
        handle.press(key)
        wait_for(lambda: readout.inner_text() != start, 30,
                 f"the {name} readout to leave {start!r} after {key}", SliderDidNotMove)

    def _settled_new_picture(self, view: Locator, before: bytes) -> bool:
        if not view.evaluate(IMAGES_READY_JS):
            return False
        first = view.screenshot()
        return first != before and view.screenshot() == first


SLIDERS = ("beta", "latent")


def learner_session(notebook: NotebookPage, required: tuple[str, ...] = (),
                    run_timeout_s: float = 900, redraw_timeout_s: float = 60) -> dict[str, int]:
    """Run All, check for errors, move every course slider found; returns sliders moved per name."""
    notebook.run_all(run_timeout_s)
    notebook.assert_no_errors()
    moved = {}
    for name in SLIDERS:
        pairs = notebook.sliders(name)
        if name in required and not pairs:
            raise MissingWidget(f"{notebook.path}: no element with class vaecourse-{name}-slider")
        for i, (slider, view) in enumerate(pairs):
            notebook.move_and_expect_redraw(name, slider, view, redraw_timeout_s, tag=f"-{i}")
        moved[name] = len(pairs)
    notebook.assert_no_errors()  # a callback that raised inside its view shows a traceback there
    return moved
