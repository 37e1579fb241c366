"""One figure style for the course, and a projector mode for lecture halls.

Every figure of `vaecourse.plotting`, `vaecourse.plotting_latent` and `vaecourse.widgets` is made
here (`new_figure`) and drawn under `context()`: font sizes, line widths, the colour-blind-safe
palette and the size bounds all come from one `FigureStyle`. JupyterLab shows a PNG at its pixel
size, so sizes are chosen in display pixels: points × dpi / 72.

For a lecture, one call at the top of the notebook (or `VAECOURSE_PROJECTOR=1` in the environment):

    from vaecourse.style import projector_mode
    projector_mode()

makes later figures and sliders larger, with bigger fonts and thicker lines, and tells the
progress bar (`projector_enabled()`) to stay on one line. Without it nothing changes.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib.figure import Figure

# Okabe & Ito (2008), "Color Universal Design": safe for every common colour-vision deficiency.
# Ordered like matplotlib's tab10 (blue, orange, green, red, purple, ...), so that prose naming
# "blue", "orange", "green", "red" keeps meaning what it meant. Yellow (#F0E442) is left out:
# it is unreadable as a line on white.
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY_BLUE, BLACK = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
)
PALETTE = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY_BLUE, BLACK)  # lines: run i gets PALETTE[i]
# Ten classes need ten colours: Petroff (2021)'s ten, chosen for colour-vision deficiency
# (matplotlib's "petroff10" sequence since 3.10; written out here for older matplotlib).
CLASS_COLOURS = (
    "#3F90DA", "#FFA90E", "#BD1F01", "#94A4A2", "#832DB6", "#A96B59", "#E76300", "#B9AC70", "#717581", "#92DADD",
)
HIGHLIGHT = VERMILLION  # the point the text or the slider is about
REFERENCE = "0.4"  # dashed reference lines (thresholds, published numbers)
MUTED = "0.75"  # what is there but unused (a collapsed latent dimension)
MAX_SERIES = 8  # at most this many lines per panel: more cannot be told apart

F = TypeVar("F", bound=Callable)


@dataclass(frozen=True)
class FigureStyle:
    """Sizes of one display: fonts in points at `dpi` pixels per inch, figure bounds in inches."""

    name: str
    dpi: float  # PNG pixels per inch; JupyterLab shows a PNG at its pixel size
    font_size: float  # axis labels, body text
    small_font_size: float  # ticks, legends, annotations: the smallest text on any figure
    title_size: float
    line_width: float
    marker_size: float
    max_size: tuple[float, float]  # (width, height) in inches: a figure never needs scrolling
    slider_width: str  # CSS width of a widget slider

    @property
    def min_font_px(self) -> float:
        """Height of the smallest text on screen, in pixels."""
        return self.small_font_size * self.dpi / 72


# A notebook on a laptop: the smallest text 14 px (JupyterLab's own text is 13-14 px); at most
# 900 × 700 px, which fits a notebook cell and a 768-px-high screen without scrolling.
NOTEBOOK = FigureStyle("notebook", dpi=100, font_size=11, small_font_size=10, title_size=12.5, line_width=1.8,
                       marker_size=6, max_size=(9.0, 7.0), slider_width="480px")
# A lecture hall: the smallest text 1/46 of a 1080-line projected screen (23 px, 1.7x the notebook's),
# lines 1.8x as thick; at most 1170 × 858 px, inside a full-screen browser on a 1920 × 1080 projector.
PROJECTOR = FigureStyle("projector", dpi=130, font_size=15, small_font_size=13, title_size=16, line_width=3.2,
                        marker_size=9, max_size=(9.0, 6.6), slider_width="760px")

_projector: bool | None = None  # set by projector_mode(); None: read VAECOURSE_PROJECTOR
_saved_rc: dict | None = None


def projector_enabled() -> bool:
    """Whether projector mode is on: projector_mode() was called, or VAECOURSE_PROJECTOR=1."""
    if _projector is not None:
        return _projector
    return os.environ.get("VAECOURSE_PROJECTOR", "").strip().lower() in ("1", "true", "yes", "on")


def current() -> FigureStyle:
    """The style new figures get now: PROJECTOR in projector mode, else NOTEBOOK."""
    return PROJECTOR if projector_enabled() else NOTEBOOK


def projector_mode(on: bool = True) -> None:
    """Make every later figure and slider readable at the back of a lecture hall (on=False: undo).

    Besides the course's own figures, matplotlib's global settings follow, so that figures a
    notebook cell draws itself (titles, legends) are enlarged too; projector_mode(False) restores them.
    """
    global _projector, _saved_rc
    if on and _saved_rc is None:
        _saved_rc = {key: matplotlib.rcParams[key] for key in rc_params(PROJECTOR)}
        matplotlib.rcParams.update(rc_params(PROJECTOR))
    elif not on and _saved_rc is not None:
        matplotlib.rcParams.update(_saved_rc)
        _saved_rc = None
    _projector = on


def rc_params(style: FigureStyle | None = None) -> dict:
    """matplotlib rc settings of a style (default: the current one)."""
    s = style or current()
    return {
        "figure.dpi": s.dpi, "savefig.dpi": "figure",
        "font.size": s.font_size, "axes.labelsize": s.font_size, "axes.titlesize": s.title_size,
        "figure.titlesize": s.title_size, "xtick.labelsize": s.small_font_size,
        "ytick.labelsize": s.small_font_size, "legend.fontsize": s.small_font_size,
        "legend.title_fontsize": s.small_font_size,
        "lines.linewidth": s.line_width, "lines.markersize": s.marker_size,
        "axes.linewidth": s.line_width / 2, "grid.linewidth": s.line_width / 2,
        "xtick.major.width": s.line_width / 2, "ytick.major.width": s.line_width / 2,
        "patch.linewidth": s.line_width / 3, "axes.prop_cycle": cycler(color=PALETTE),
        "image.cmap": "gray",
    }


@contextmanager
def context(style: FigureStyle | None = None) -> Iterator[FigureStyle]:
    """Draw under a style's rc settings (default: the current style); yields the style."""
    s = style or current()
    with matplotlib.rc_context(rc_params(s)):
        yield s


def styled(function: F) -> F:
    """Decorator: run a figure function under the current style's settings."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with context():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class CourseFigure(Figure):
    """A Figure that Jupyter shows as one PNG, drawn in the style it was made in."""

    course_style: FigureStyle = NOTEBOOK

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        with context(self.course_style):  # ticks are made when drawn: they need the style too
            self.canvas.print_figure(buffer, format="png")
        return buffer.getvalue()


def fit_size(width: float, height: float, style: FigureStyle | None = None) -> tuple[float, float]:
    """(width, height) in inches, each cut to the style's bounds (image grids size themselves to fit)."""
    max_w, max_h = (style or current()).max_size
    return min(width, max_w), min(height, max_h)


def new_figure(
    nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (7.0, 4.5), *,
    sharex: bool = False, height_ratios: Sequence[float] | None = None,
) -> tuple[CourseFigure, np.ndarray]:
    """A constrained-layout CourseFigure in the current style, within its size bounds; Axes (nrows, ncols)."""
    with context() as s:
        fig = CourseFigure(figsize=fit_size(*figsize, s), layout="constrained")
        fig.course_style = s
        gridspec = {"height_ratios": height_ratios} if height_ratios is not None else None
        axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=False, gridspec_kw=gridspec) if nrows else None
    return fig, axes


def new_mosaic(
    layout: list[list[str]], figsize: tuple[float, float] = (7.0, 4.5), *, height_ratios: Sequence[float] | None = None,
) -> tuple[CourseFigure, dict]:
    """Like new_figure, with Axes laid out by name (matplotlib's subplot_mosaic): {name: Axes}."""
    fig, _ = new_figure(0, 0, figsize)
    with context(fig.course_style):
        return fig, fig.subplot_mosaic(layout, height_ratios=height_ratios)
