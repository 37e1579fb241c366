"""Where the slides break: a slide type for each lesson cell, from headings and content height.

`## ` headings open a slide, `### ` a sub-slide (below it, reached with the down arrow); a cell
that would overflow the current (sub-)slide opens a new sub-slide; the Colab install cell and
import-only cells are skipped. The result is saved in each cell's
`metadata.slideshow.slide_type`, where an instructor can change it in JupyterLab (property
inspector → Slide Type); cells that already have one are never changed.
"""

from __future__ import annotations

import ast
import base64
import math
import re
import struct

import nbformat

LINES_PER_SLIDE = 22  # a 960×700 reveal slide holds about this many 28-px lines
LINE_PX = 28
CHARS_PER_LINE = 80
WIDGET_LINES = 20
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def deck_title(nb) -> str:
    """The lesson title: the first `# ` heading of the notebook, else its first line."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "vaecourse lesson"


def _text_lines(text: str) -> int:
    return sum(max(1, math.ceil(len(line) / CHARS_PER_LINE)) for line in text.splitlines())


def png_height(data: str) -> int:
    """Pixel height of a base64 PNG (from its IHDR header)."""
    header = base64.b64decode(data[:44])
    return struct.unpack(">I", header[20:24])[0]


def cell_lines(cell) -> int:
    """Rough height of a cell on a slide, in text lines (source, text outputs, images)."""
    lines = _text_lines(cell.source) + (1 if cell.cell_type == "code" else 0)
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            lines += _text_lines(output.get("text", ""))
            continue
        data = output.get("data", {})
        if WIDGET_VIEW in data:  # an explorer: a slider over a figure in the deck
            lines += WIDGET_LINES
        elif "image/png" in data:
            lines += math.ceil(png_height(data["image/png"]) / LINE_PX)
        elif "text/plain" in data:
            lines += _text_lines(data["text/plain"])
    return lines


def is_setup(cell) -> bool:
    """A code cell with no output that starts with an import (Colab install, imports)."""
    if cell.cell_type != "code" or cell.get("outputs"):
        return False
    try:
        code = "\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in cell.source.splitlines())
        body = ast.parse(code).body
    except SyntaxError:
        return False
    return bool(body) and isinstance(body[0], (ast.Import, ast.ImportFrom))


def slide_type_for(cell, used: int) -> str:
    """The slide type of `cell` when `used` lines of the current (sub-)slide are already filled."""
    first = cell.source.lstrip().split("\n", 1)[0] if cell.cell_type == "markdown" else ""
    if first.startswith(("# ", "## ")):
        return "slide"
    if first.startswith("### "):
        return "subslide"
    if is_setup(cell):
        return "skip"
    return "subslide" if used and used + cell_lines(cell) > LINES_PER_SLIDE else "-"


def assign_slide_types(cells: list, only_missing: bool = True) -> int:
    """Set `metadata.slideshow.slide_type` of each cell (kept where present); returns how many were set."""
    used, changed = 0, 0
    for cell in cells:
        current = cell.metadata.get("slideshow", {}).get("slide_type")
        if current is None or not only_missing:
            current = slide_type_for(cell, used)
            cell.metadata["slideshow"] = nbformat.from_dict({**cell.metadata.get("slideshow", {}), "slide_type": current})
            changed += 1
        if current in ("slide", "subslide"):
            used = cell_lines(cell)
        elif current in ("-", "fragment"):
            used += cell_lines(cell)
    return changed
