"""Lecture decks without a browser: frames equal the widgets' images, slide types, offline files."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import PIL.Image
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vaecourse.instructor import frames, layout, slides, timings
from vaecourse.widgets import BetaExplorer, LatentDimExplorer, PixelLossExplorer

from conftest import REPO_ROOT, skip_or_fail

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


def widget_cell(source: str, model_id: str = "m0") -> nbformat.NotebookNode:
    """A code cell whose saved output is a widget view (as a run notebook stores it)."""
    output = new_output("execute_result", {WIDGET_VIEW: {"model_id": model_id, "version_major": 2,
                                                         "version_minor": 0}, "text/plain": "VBox(...)"},
                        execution_count=1)
    return new_code_cell(source, outputs=[output])


def deck_frames(html: str) -> list[tuple[str, np.ndarray, bool]]:
    """(label, RGB pixels, hidden) of each frame of the deck slider in `html`."""
    found = re.findall(r'<img class="vaecourse-deck-frame" data-label="([^"]*)"[^>]*'
                       r'src="data:image/png;base64,([^"]*)"( hidden)?>', html)
    return [(label, pixels(base64.b64decode(data)), bool(hidden)) for label, data, hidden in found]


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("call, make", [
    ("BetaExplorer(bank, latent_dim=K)", lambda bank: BetaExplorer(bank, latent_dim=4)),
    ("LatentDimExplorer(bank, beta=1.0)", lambda bank: LatentDimExplorer(bank, beta=1.0)),
    ("PixelLossExplorer(x=0.3, sigma=0.2)", lambda bank: PixelLossExplorer(x=0.3, sigma=0.2)),
], ids=["beta", "latent-dim", "pixel-loss"])
def test_deck_slider_shows_the_widget_image_at_every_value(tiny_bank, call, make):
    widget = make(tiny_bank)
    settings = new_code_cell('DATASET = "digits"\nK = 4  # the latent size, a constant the call names')
    nb = new_notebook(cells=[settings, widget_cell(f"# NBVAL_IGNORE_OUTPUT\nexplorer = {call}\nexplorer.widget")])
    cell = slides.prepare(nb, resolve=lambda name: tiny_bank).cells[1]
    assert "NBVAL" not in cell.source  # test markers stay out of the lecture
    html = cell.outputs[0].data["text/html"]
    shown = deck_frames(html)
    assert [label for label, _, _ in shown] == [label for label, _ in widget.slider.options]
    assert [hidden for *_, hidden in shown].count(False) == 1  # only the starting value is visible
    start = widget.slider.value
    assert not shown[[v for _, v in widget.slider.options].index(start)][2]
    for (label, image, _), value in zip(shown, [v for _, v in widget.slider.options]):
        widget.show(value)  # what the notebook widget displays at this value
        assert np.array_equal(image, pixels(widget.view.value)), f"frame {label} differs from the widget"
    assert len({image.tobytes() for _, image, _ in shown}) == len(shown)  # every value looks different


def test_explorer_with_notebook_state_falls_back_to_the_saved_image():
    png = PIL.Image.new("RGB", (4, 3), "red")
    buffer = io.BytesIO()
    png.save(buffer, format="PNG")
    state = {"box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_img"]}},
             "img": {"model_name": "ImageModel", "state": {}, "buffers": [
                 {"path": ["value"], "encoding": "base64", "data": base64.b64encode(buffer.getvalue()).decode()}]}}
    nb = new_notebook(cells=[widget_cell("InterpolationExplorer(vae16.decode, z_start, z_end)", "box")],
                      metadata={"widgets": {frames.WIDGET_STATE: {"state": state}}})
    output = slides.prepare(nb).cells[0].outputs[0]
    assert base64.b64encode(buffer.getvalue()).decode() in output.data["text/html"]
    assert "runs in the notebook" in output.data["text/html"]


def test_other_widgets_keep_their_text_and_lose_the_widget_view():
    nb = new_notebook(cells=[widget_cell("fit(model, data)")])
    output = slides.prepare(nb).cells[0].outputs[0]
    assert WIDGET_VIEW not in output.data and output.data["text/plain"] == "VBox(...)"


def test_remote_images_are_dropped_and_text_is_kept():
    badge = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://x.y/nb)"
    nb = new_notebook(cells=[new_markdown_cell(f"{badge}\n# Title ![logo](http://x.y/l.png) and [a link](https://x.y)")])
    source = slides.prepare(nb).cells[0].source
    assert "colab-badge" not in source and "l.png" not in source
    assert "# Title" in source and "[a link](https://x.y)" in source


def test_headings_open_slides_setup_is_skipped_and_tall_content_opens_a_subslide():
    cells = [new_markdown_cell("# Lesson\nintro"), new_code_cell("import sys\nif 0:\n    %pip install x"),
             new_markdown_cell("## 1. Part"), new_code_cell("x = 1"), new_markdown_cell("### 1.1 Detail"),
             new_code_cell("\n".join(f"y{i} = {i}" for i in range(layout.LINES_PER_SLIDE))),
             new_markdown_cell("text " * 50)]
    assert layout.assign_slide_types(cells) == len(cells)
    types = [c.metadata.slideshow.slide_type for c in cells]
    assert types == ["slide", "skip", "slide", "-", "subslide", "subslide", "subslide"]  # the last two overflow


def test_slide_types_already_set_are_kept():
    cells = [new_markdown_cell("## Part"), new_code_cell("x = 1")]
    cells[1].metadata["slideshow"] = {"slide_type": "fragment"}
    assert layout.assign_slide_types(cells, only_missing=True) == 1
    assert cells[1].metadata.slideshow.slide_type == "fragment"


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "notebooks").glob("0*.ipynb")), ids=lambda p: p.name)
def test_every_lesson_cell_has_a_slide_type(path):
    nb = nbformat.read(path, as_version=4)
    missing = [i for i, c in enumerate(nb.cells) if c.metadata.get("slideshow", {}).get("slide_type") not in SLIDE_TYPES]
    assert not missing, (f"cells {missing} of {path.name} have no slide type: run "
                         f"`python -m vaecourse.instructor.slides --annotate {path.relative_to(REPO_ROOT)}`")


class _Fetches(HTMLParser):
    """What a browser would load from a page: script/img/iframe src and stylesheet href."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def test_built_deck_loads_only_bundled_files(tmp_path):
    if not (slides.NODE_MODULES / "reveal.js").is_dir():
        skip_or_fail("decks/node_modules is missing: run `npm ci --prefix decks`")
    notebook = tmp_path / "lesson.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# A lesson\n$\\mathrm{KL} \\ge 0$"),
                                       new_code_cell("1 + 1", outputs=[new_output("execute_result", {"text/plain": "2"},
                                                                                  execution_count=1)])]), notebook)
    out = tmp_path / "decks"
    (deck,) = slides.build_all([notebook], out)
    parser = _Fetches()
    parser.feed(deck.read_text(encoding="utf-8"))
    local = [u for u in parser.urls if not u.startswith("data:")]
    assert not [u for u in local if re.match(r"(https?:)?//", u)], "a deck links the network"
    for url in local:
        assert (out / url.split("?")[0]).is_file(), f"{url} is linked but not bundled"
    for css in (out / "vendor").rglob("*.css"):
        assert not re.search(r"(url\(|@import)\s*['\"]?(https?:)?//", css.read_text(encoding="utf-8")), css
    assert "vendor/reveal.js/dist/reveal.js" in deck.read_text(encoding="utf-8")  # loaded by RequireJS
    assert (out / "vendor/mathjax/fonts/HTML-CSS/TeX/woff").is_dir()
    assert "A lesson" in (out / "index.html").read_text(encoding="utf-8")


def test_build_without_npm_packages_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="npm ci --prefix decks"):
        slides.copy_vendor(tmp_path, node_modules=tmp_path / "none")


def test_cell_seconds_reads_the_saved_execution_times():
    cell = new_code_cell("x = 1")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-12-04T10:00:00.250000Z",
                                  "shell.execute_reply": "2026-12-04T10:00:31.750000Z"}
    assert timings.cell_seconds(cell) == pytest.approx(31.5)
    assert timings.cell_seconds(new_code_cell("y = 2")) is None


def test_timing_report_flags_cells_too_slow_to_run_live(tmp_path):
    slow, fast = new_code_cell("train()"), new_code_cell("plot()")
    slow.metadata["execution"] = {"iopub.execute_input": "2026-12-04T10:00:00Z", "shell.execute_reply": "2026-12-04T10:00:45Z"}
    fast.metadata["execution"] = {"iopub.execute_input": "2026-12-04T10:00:00Z", "shell.execute_reply": "2026-12-04T10:00:02Z"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[slow, fast]), path)
    lines = timings.report(path).splitlines()
    assert "47 s in all" in lines[0]
    assert "show the saved output" in lines[1] and "show the saved output" not in lines[2]
