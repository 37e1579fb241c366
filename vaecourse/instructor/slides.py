"""Lecture decks: one offline reveal.js HTML deck per lesson notebook, sliders included.

`python -m vaecourse.instructor.slides` (after `npm ci --prefix decks`) writes
artifacts/decks/: NN_name.slides.html per lesson, index.html, and vendor/ with reveal.js,
MathJax 2, RequireJS and jQuery copied from decks/node_modules. Nothing is linked from a CDN:
the folder opens from a USB stick with no network. Slides follow each cell's
`metadata.slideshow.slide_type` (written by `--annotate`); explorer widgets become a range
input over frames rendered at build time by the widget itself (`vaecourse.instructor.frames`).
"""

from __future__ import annotations

import argparse
import base64
import copy
import html
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import nbformat
from jinja2 import DictLoader
from nbconvert import SlidesExporter

from vaecourse.instructor import frames as deck_frames
from vaecourse.instructor.layout import assign_slide_types, deck_title

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "decks" / "node_modules"
DEFAULT_OUT = REPO / "artifacts" / "decks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
Resolver = Callable[[str], Any]
# vendor/<left> in the deck folder <- decks/node_modules/<right>
VENDOR = {
    **{f"reveal.js/dist/{p}": f"reveal.js/dist/{p}" for p in (
        "reveal.css", "reveal.js", "theme/white.css", "theme/fonts/source-sans-pro")},
    "reveal.js/plugin/notes": "reveal.js/plugin/notes",
    "require.js": "requirejs/require.js",
    "jquery.min.js": "jquery/dist/jquery.min.js",
    **{f"mathjax/{p}": f"mathjax/{p}" for p in (
        "MathJax.js", "config/TeX-AMS_CHTML-full.js", "config/Safe.js", "extensions", "jax/input/TeX",
        "jax/element", "jax/output/CommonHTML", "jax/output/PreviewHTML", "fonts/HTML-CSS/TeX/woff")},
}
# A Markdown image with a remote source (the Colab badge), with or without a link around it.
REMOTE_IMAGE = re.compile(r"\[!\[[^\]]*\]\(https?://[^)]*\)\]\([^)]*\)|!\[[^\]]*\]\(https?://[^)]*\)")

DECK_TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block html_head_js_mermaidjs %}{% endblock %}
{% block jupyter_widgets %}{% endblock %}
{% block html_head_css %}<style>
.reveal .slides :is(h1, h2, h3, h4) { text-transform: none; }  /* the theme's capitals turn β into a B */
.vaecourse-deck-slider label { font-size: 24px; }
.vaecourse-deck-range { width: 420px; vertical-align: middle; }
.vaecourse-deck-value { font-size: 24px; font-weight: bold; margin-left: 0.5em; }
.vaecourse-deck-frames img { max-width: 100%; max-height: 500px; margin: 0; }  /* fits under the slider */
</style>{% endblock %}
{% block footer_js %}{{ super() }}
<script>
// Deck sliders: the range input (click it or Tab to it, then the arrow keys) shows one frame;
// Escape hands the arrow keys back to the slides.
document.querySelectorAll(".vaecourse-deck-slider").forEach(function (box) {
  var range = box.querySelector(".vaecourse-deck-range");
  var output = box.querySelector(".vaecourse-deck-value");
  var frames = box.querySelectorAll(".vaecourse-deck-frame");
  function show(i) {
    frames.forEach(function (frame, j) { frame.hidden = (j !== i); });
    output.textContent = frames[i].dataset.label;
  }
  range.addEventListener("input", function () { show(Number(range.value)); });
  range.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { range.blur(); event.preventDefault(); event.stopPropagation(); }
  });
  show(Number(range.value));
});
// The template loads reveal.js as an AMD module; expose the same instance for the browser tests.
require(["{{ resources.reveal.url_prefix }}/dist/reveal.js"], function (Reveal) { window.Reveal = Reveal; });
</script>
{% endblock %}
"""


def deck_exporter() -> SlidesExporter:
    """nbconvert's reveal exporter pointed at the bundled vendor/ copies (relative URLs)."""
    exporter = SlidesExporter(extra_loaders=[DictLoader({"vaecourse_deck.html.j2": DECK_TEMPLATE})])
    exporter.template_file = "vaecourse_deck.html.j2"
    exporter.reveal_url_prefix = "vendor/reveal.js"
    exporter.mathjax_url = "vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
    exporter.require_js_url = "vendor/require.js"
    exporter.jquery_url = "vendor/jquery.min.js"
    exporter.reveal_theme = "white"  # its font ships in vendor/; most other themes link Google Fonts
    exporter.reveal_scroll = True  # a slide taller than the screen scrolls instead of being cut
    exporter.reveal_number = "c/t"
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    return exporter


class _BankResolver:
    """Resolves the name `bank` in an explorer call: the notebook's model bank, loaded once."""

    def __init__(self, names: dict) -> None:
        self.names = names

    def __call__(self, name: str):
        if name != "bank":
            raise ValueError(f"{name} is not a literal or the bank")
        from vaecourse.bank import BankSpec, load_bank

        return load_bank(BankSpec(dataset=self.names.get("DATASET", "mnist")), progress=False)


def widget_output_html(nb: nbformat.NotebookNode, index: int, output: dict, resolve: Resolver | None = None) -> str | None:
    """HTML replacing a widget output: explorer frames, else the saved image, else None."""
    cell = nb.cells[index]
    call = deck_frames.explorer_call(cell.source)
    if call is not None:
        names = deck_frames.literal_names([c.source for c in nb.cells[:index] if c.cell_type == "code"])
        try:
            explorer = deck_frames.build_explorer(call, names, resolve or _BankResolver(names))
        except (ValueError, KeyError) as error:
            print(f"  cell {index}: {call.func.id} not pre-rendered ({error}); showing its saved image")
        else:
            return deck_frames.frames_html(deck_frames.explorer_frames(explorer))
    png = deck_frames.saved_widget_png(nb.metadata, output["data"][WIDGET_VIEW]["model_id"])
    if png is None:
        return None
    return (f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="saved widget image">'
            '<p><em>The slider of this figure runs in the notebook.</em></p>')


def prepare(nb: nbformat.NotebookNode, resolve: Resolver | None = None) -> nbformat.NotebookNode:
    """A copy for the deck: remote images dropped, widgets replaced, slide types filled in.

    `resolve(name)` gives explorer arguments that are not literals (default: `bank` is the
    notebook's model bank)."""
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = REMOTE_IMAGE.sub("", cell.source)
        else:  # nbval's markers are for the test suite, not for the lecture hall
            cell.source = "\n".join(l for l in cell.source.splitlines() if not l.startswith("# NBVAL_"))
        for output in cell.get("outputs", []):
            if WIDGET_VIEW not in output.get("data", {}):
                continue
            replacement = widget_output_html(nb, index, output, resolve)
            del output.data[WIDGET_VIEW]  # the text/plain fallback stays for non-image widgets
            if replacement is not None:
                output.data = {"text/html": replacement}
    assign_slide_types(nb.cells, only_missing=True)
    nb.metadata.pop("widgets", None)
    return nb


def copy_vendor(out: Path, node_modules: Path = NODE_MODULES) -> None:
    """Copy reveal.js, MathJax, RequireJS and jQuery into out/vendor (from `npm ci --prefix decks`)."""
    for dest, src in VENDOR.items():
        source = node_modules / src
        if not source.exists():
            raise FileNotFoundError(f"{source} is missing: run `npm ci --prefix decks` first (offline "
                                    f"afterwards: the decks bundle what npm installed).")
        target = out / "vendor" / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)


def build_deck(notebook: Path, out: Path, exporter: SlidesExporter | None = None) -> Path:
    """Write out/<notebook stem>.slides.html; returns its path."""
    nb = prepare(nbformat.read(notebook, as_version=4))
    body, _ = (exporter or deck_exporter()).from_notebook_node(nb, resources={"metadata": {"name": deck_title(nb)}})
    path = out / f"{notebook.stem}.slides.html"
    path.write_text(body, encoding="utf-8")
    return path


def write_index(decks: list[Path], titles: list[str], out: Path) -> Path:
    """out/index.html: one link per deck."""
    items = "".join(f'<li><a href="{d.name}">{html.escape(t)}</a></li>' for d, t in zip(decks, titles))
    path = out / "index.html"
    path.write_text(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>vaecourse decks</title>'
                    f'</head><body><h1>vaecourse lecture decks</h1><ul>{items}</ul>'
                    f'<p>Arrow keys or space: next slide. Click a slider (or Tab to it), then the arrow keys '
                    f'move it; Escape gives the arrows back to the slides. S: speaker view. F: full screen.</p>'
                    f'</body></html>', encoding="utf-8")
    return path


def build_all(notebooks: list[Path], out: Path = DEFAULT_OUT) -> list[Path]:
    """Build every deck, the vendor folder and the index; returns the deck paths."""
    out.mkdir(parents=True, exist_ok=True)
    copy_vendor(out)
    exporter = deck_exporter()
    decks, titles = [], []
    for notebook in notebooks:
        start = time.perf_counter()
        decks.append(build_deck(notebook, out, exporter))
        titles.append(deck_title(nbformat.read(notebook, as_version=4)))
        print(f"{decks[-1]}  ({time.perf_counter() - start:.1f} s)")
    write_index(decks, titles, out)
    return decks


def annotate(notebooks: list[Path]) -> None:
    """Write a slide type into every lesson cell that has none (metadata only; reads, edits, saves)."""
    import json

    for notebook in notebooks:
        text = notebook.read_text(encoding="utf-8")
        nb, cells = json.loads(text), nbformat.reads(text, as_version=4).cells
        changed = assign_slide_types(cells, only_missing=True)
        for raw, cell in zip(nb["cells"], cells):
            slideshow = dict(cell.metadata["slideshow"])
            raw["metadata"] = dict(sorted({**raw["metadata"], "slideshow": slideshow}.items()))
        notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{notebook}: {changed} cells given a slide type")


def main(argv: list[str] | None = None) -> int:
    """Command line: build the decks (default) or `--annotate` the notebooks' slide types."""
    parser = argparse.ArgumentParser(description="Build offline reveal.js lecture decks from the lessons.")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/0*.ipynb")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    parser.add_argument("--annotate", action="store_true",
                        help="write slide types into cells that have none, then stop")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("0*.ipynb"))
    missing = [n for n in notebooks if not n.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(map(str, missing))}")
    if args.annotate:
        annotate(notebooks)
        return 0
    start = time.perf_counter()
    try:
        decks = build_all(notebooks, args.out)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{len(decks)} decks in {args.out} ({time.perf_counter() - start:.0f} s); open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
