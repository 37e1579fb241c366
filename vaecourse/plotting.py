"""Figures for the course: images, reconstructions, losses. Inputs are tensors or arrays; outputs Figures.

Every function builds a `CourseFigure` in the course style (`vaecourse.style`: font sizes, bounded
sizes, colour-blind-safe palette, projector mode) and returns it; none calls `plt.show()` or saves a file.
In a notebook, show a figure in one of two ways:

    plotting.image_grid(x[:64])        # as the cell's last expression: shown once, as a PNG
    display(plotting.image_grid(x))    # anywhere in a cell (from IPython.display import display)

Inside an ipywidgets callback: `with out: out.clear_output(wait=True); display(fig)`.
The figures are made with `Figure()`, not pyplot, so pyplot never holds them: they appear
exactly once (a `plt.subplots` figure returned as the last expression appears twice), they need
no `%matplotlib inline`, and memory is freed with the last reference. `plt.show()` shows nothing
here. Functions with an `ax=` argument draw into that Axes instead (the sliders of `vaecourse.widgets`
draw this way, then update the returned artists in place).
Latent-space figures live in `vaecourse.plotting_latent`; training curves in `vaecourse.plotting_training`
(`loss_curves` and `train_vs_val` are importable from here too).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import Tensor

from vaecourse.plotting_training import LOSS_LABEL, LOSS_UNITS, loss_curves, train_vs_val  # noqa: F401 (re-exported)
from vaecourse.style import BLACK, BLUE, HIGHLIGHT, PALETTE, REFERENCE, current, styled
from vaecourse.style import CourseFigure, new_figure  # noqa: F401 (re-exported: notebooks call plotting.new_figure)

Array = Union[Tensor, np.ndarray]
Names = Union[Sequence[str], Mapping, None]  # class_names[label] -> the class's name
# matplotlib 3.9 renamed boxplot's `labels` to `tick_labels` and 3.11 removed `labels`; Colab may be older.
_BOXPLOT_LABELS = "tick_labels" if "tick_labels" in inspect.signature(Axes.boxplot).parameters else "labels"


def to_numpy(a: Array, name: str, ndim: int | None = None) -> np.ndarray:
    """`a` as a NumPy array (detached, on the CPU), checking its number of dimensions."""
    arr = a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s); got shape {arr.shape}.")
    return arr


def to_images(a: Array, name: str = "images") -> Tensor:
    """`a` as a float tensor (N, C, H, W) clipped to [0, 1]; C must be 1 (grey) or 3 (RGB)."""
    x = torch.as_tensor(to_numpy(a, name)).float()
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must be (N, C, H, W) with C = 1 or 3; got shape {tuple(x.shape)}. "
            "Flat MNIST vectors (N, 784) need x.view(-1, 1, 28, 28)."
        )
    return x.clamp(0.0, 1.0)


def grid_pixels(x: Tensor, nrow: int, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """make_grid of x (N, C, H, W) as an array to imshow: (H', W') for grey, (H', W', 3) for RGB."""
    from torchvision.utils import make_grid  # here, not at the top: importing torchvision costs ~2 s per kernel

    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=pad_value)  # (3, H', W')
    return (grid[0] if x.shape[1] == 1 else grid.permute(1, 2, 0)).numpy()


def show_pixels(ax: Axes, pixels: np.ndarray) -> None:
    """Draw pixels in ax: grey scale fixed to [0, 1], nearest-neighbour (no smoothing), no ticks."""
    if len(ax.images) == 1 and ax.images[0].get_array().shape == pixels.shape:
        ax.images[0].set_data(pixels)  # redraw in place (widgets): ticks and labels stay
        return
    ax.clear()
    ax.imshow(pixels, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def class_names_for(classes: np.ndarray, class_names: Names) -> list[str]:
    """The name of each class label: class_names[label], or the label itself."""
    if class_names is None:
        return [str(c) for c in classes]
    try:
        return [str(class_names[c]) for c in classes]
    except (IndexError, KeyError) as error:
        raise ValueError(f"class_names has no name for every label in {classes.tolist()}.") from error


def cell_centres(count: int, size: int, padding: int = 2) -> np.ndarray:
    """Pixel coordinates of the centres of `count` images of `size` pixels laid out by make_grid."""
    return padding + (size + padding) * np.arange(count) + size / 2 - 0.5


def label_cells(ax: Axes, x: Tensor, nrow: int, row_labels: Sequence[str] | None = None,
                col_labels: Sequence[str] | None = None, padding: int = 2) -> None:
    """Name the rows (left) and columns (below) of a make_grid of x (N, C, H, W) drawn in ax."""
    n_rows, n_cols = -(-x.shape[0] // nrow), min(nrow, x.shape[0])
    for labels, count, axis in ((row_labels, n_rows, "row"), (col_labels, n_cols, "column")):
        if labels is not None and len(labels) != count:
            raise ValueError(f"Got {len(labels)} {axis} labels for {count} {axis}s of images.")
    if row_labels is not None:
        ax.set_yticks(cell_centres(n_rows, x.shape[2], padding), list(row_labels))
    if col_labels is not None:
        ax.set_xticks(cell_centres(n_cols, x.shape[3], padding), list(col_labels))
    ax.tick_params(length=0)


# Image grids: each image pixel is at least 2 screen pixels (a 28-pixel digit 56 px or more).
IMAGE_PIXELS_PER_INCH = 40


def grid_figsize(pixels: np.ndarray, extra: tuple[float, float] = (0.0, 0.5), per_inch: float = IMAGE_PIXELS_PER_INCH,
                 ) -> tuple[float, float]:
    """Inches for a figure showing pixels (H', W'[, 3]) plus extra (width, height) for labels, within bounds."""
    h, w = pixels.shape[:2]
    max_w, max_h = current().max_size
    scale = min(1 / per_inch, (max_w - extra[0]) / w, (max_h - extra[1]) / h)
    return max(2.5, w * scale + extra[0]), h * scale + extra[1]


@styled
def image_grid(
    images: Array, nrow: int = 8, title: str | None = None, ax: Axes | None = None, *,
    padding: int = 2, pad_value: float = 1.0,
    row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
) -> Figure:
    """Tile images (N, C, H, W) in [0, 1], nrow per row, separated by padding lines of pad_value.

    row_labels / col_labels name each row (left) and column (below): say what a row or column is.
    """
    x = to_images(images)
    pixels = grid_pixels(x, nrow, padding, pad_value)
    if ax is None:
        extra = (1.6 if row_labels is not None else 0.0, 0.5 + 0.4 * (col_labels is not None))
        _, axes = new_figure(figsize=grid_figsize(pixels, extra))
        ax = axes[0, 0]
    show_pixels(ax, pixels)
    label_cells(ax, x, nrow, row_labels, col_labels, padding)
    ax.set_frame_on(False)
    if title:
        ax.set_title(title)
    return ax.figure


@styled
def image_row(
    images: Array, captions: Sequence[str], title: str | None = None, xlabel: str | None = None
) -> Figure:
    """One row of images (K, C, H, W), each captioned underneath (e.g. "α = 0.5", "z₃ + z₈ − z₀")."""
    x = to_images(images)
    if len(captions) != x.shape[0]:
        raise ValueError(f"Got {len(captions)} captions for {x.shape[0]} images.")
    pixels = grid_pixels(x, nrow=x.shape[0])
    caption_width = max(len(c) for c in captions) * 0.6 * current().small_font_size / 72 + 0.1  # inches, roughly
    per_inch = min(IMAGE_PIXELS_PER_INCH, (x.shape[3] + 2) / caption_width)  # each image as wide as its caption
    fig, axes = new_figure(figsize=grid_figsize(pixels, extra=(0.0, 0.7 + 0.3 * bool(xlabel)), per_inch=per_inch))
    ax = axes[0, 0]
    show_pixels(ax, pixels)
    label_cells(ax, x, x.shape[0], col_labels=captions)
    tilt_crowded_xlabels(ax)
    ax.set_frame_on(False)
    ax.set_title(title or "")
    ax.set_xlabel(xlabel or "")
    return fig


def _like(x_hat: Array, x: Tensor, name: str) -> Tensor:
    """x_hat as images shaped like x (N, C, H, W); flat rows (N, C·H·W) are reshaped."""
    t = torch.as_tensor(to_numpy(x_hat, name)).float()
    if t.dim() >= 2 and t.shape[0] >= x.shape[0] and t[0].numel() == x[0].numel():
        return to_images(t[: x.shape[0]].reshape(x.shape), name)
    raise ValueError(
        f"{name} has shape {tuple(t.shape)}; expected at least {x.shape[0]} images shaped like x[0] "
        f"{tuple(x.shape[1:])} (or flattened)."
    )


@styled
def reconstructions(
    x: Array, x_hat: Array | Mapping[str, Array], n: int = 10, titles: tuple[str, str] = ("original", "reconstruction")
) -> Figure:
    """First n originals x (N, C, H, W), then reconstructions: x_hat (N, C, H, W) or {name: x_hat}, a row each.

    Each row is named by its title, above it on the left.
    """
    originals = to_images(x, "x")[:n]
    named = dict(x_hat) if isinstance(x_hat, Mapping) else {titles[1]: x_hat}
    rows = {titles[0]: originals, **{k: _like(v, originals, f"x_hat[{k!r}]") for k, v in named.items()}}
    pixels = grid_pixels(originals, nrow=n)
    title_height = 2.2 * current().font_size / 72  # inches: one row title
    width, image_height = grid_figsize(pixels, extra=(0.0, 0.0))
    image_height = min(image_height, current().max_size[1] / len(rows) - title_height)
    fig, axes = new_figure(len(rows), 1, figsize=(width, len(rows) * (image_height + title_height)))
    for ax, (name, images) in zip(axes[:, 0], rows.items()):
        image_grid(images, nrow=n, ax=ax)
        ax.set_title(name, loc="left")
    return fig


@styled
def reconstruction_error_analysis(
    errors: Array, labels: Array, class_names: Names = None, metric_name: str = "MSE per pixel"
) -> Figure:
    """The seed's figure: histogram of errors (N,) with their mean, and a boxplot per class of labels (N,)."""
    errors, labels = to_numpy(errors, "errors", ndim=1), to_numpy(labels, "labels", ndim=1).astype(int)
    if len(errors) != len(labels):
        raise ValueError(f"errors has {len(errors)} values but labels has {len(labels)}.")
    fig, axes = new_figure(1, 2, figsize=(9, 4))
    hist_ax, box_ax = axes[0]
    hist_ax.hist(errors, bins=50, color=BLUE, edgecolor=BLACK, alpha=0.7)
    hist_ax.axvline(errors.mean(), color=HIGHLIGHT, ls="--", label=f"mean: {errors.mean():.4g}")
    hist_ax.set(xlabel=f"reconstruction error\n({metric_name})", ylabel="number of images")
    hist_ax.set_title("Distribution of reconstruction errors")
    hist_ax.legend()
    classes = np.unique(labels)
    by_class = [errors[labels == c] for c in classes]
    names = {_BOXPLOT_LABELS: class_names_for(classes, class_names)}
    box_ax.boxplot(by_class, **names, flierprops={"markersize": 2, "alpha": 0.4}, medianprops={"color": HIGHLIGHT})
    box_ax.set(xlabel="class", ylabel=f"reconstruction error\n({metric_name})")
    box_ax.set_title("Reconstruction error by class")
    tilt_crowded_xlabels(box_ax)
    return fig


def tilt_crowded_xlabels(ax: Axes, degrees: float = 30) -> bool:
    """Tilt the x tick labels when, drawn level, two neighbours would touch (e.g. Fashion-MNIST's
    class names under ten boxes). Returns whether it tilted them."""
    ax.figure.draw_without_rendering()  # tick labels get their positions when drawn
    boxes = sorted((t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()), key=lambda b: b.x0)
    crowded = any(left.x1 + 2 > right.x0 for left, right in zip(boxes, boxes[1:]))
    if crowded:
        for label in ax.get_xticklabels():
            label.set(rotation=degrees, horizontalalignment="right", rotation_mode="anchor")
    return crowded


@dataclass
class PixelLossArtists:
    """What pixel_loss_curves drew, by curve name: the loss curves, their minima (dots), the target line."""

    lines: dict[str, Line2D]
    minima: dict[str, Line2D]
    target: Line2D


def draw_pixel_losses(ax: Axes, x_target: float, curves: Mapping[str, tuple[Array, Array]]) -> PixelLossArtists:
    """Draw {name: (x_hat (K,), loss (K,) in nats)} for target x_target into ax; returns the artists."""
    lines, minima = {}, {}
    for colour, name in zip(PALETTE, curves):
        lines[name] = ax.plot([], [], color=colour, label=name)[0]
        minima[name] = ax.plot([], [], "o", color=colour)[0]
    artists = PixelLossArtists(lines, minima, ax.axvline(x_target, color=REFERENCE, ls="--", label="target x"))
    update_pixel_losses(artists, x_target, curves)
    ax.set(xlabel=r"prediction $\hat{x}$ for the pixel (0 = black, 1 = white)", ylabel="loss for this pixel (nats)")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.relim()
    ax.autoscale_view()
    return artists


def update_pixel_losses(artists: PixelLossArtists, x_target: float, curves: Mapping[str, tuple[Array, Array]]) -> None:
    """Redraw the curves {name: (x_hat (K,), loss (K,))} and the target in place (the sliders call this)."""
    for name, (x_hat, loss) in curves.items():
        x_hat, loss = to_numpy(x_hat, f"{name} x_hat", ndim=1), to_numpy(loss, f"{name} loss", ndim=1)
        if x_hat.shape != loss.shape:
            raise ValueError(f"{name}: {len(x_hat)} x_hat values but {len(loss)} losses.")
        artists.lines[name].set_data(x_hat, loss)
        best = np.nanargmin(loss)
        artists.minima[name].set_data([x_hat[best]], [loss[best]])
    artists.target.set_xdata([x_target, x_target])


@styled
def pixel_loss_curves(x_target: float, curves: Mapping[str, tuple[Array, Array]], ax: Axes | None = None) -> Figure:
    """How each loss scores one pixel: {name: (x_hat values (K,), loss (K,) in nats)} for target x; dots at minima."""
    if len(curves) > len(PALETTE):
        raise ValueError(f"At most {len(PALETTE)} curves can be told apart; got {len(curves)}.")
    if ax is None:
        ax = new_figure(figsize=(7.5, 4.5))[1][0, 0]
    draw_pixel_losses(ax, x_target, curves)
    ax.set_title(f"How each loss scores one pixel whose target is x = {x_target:g}")
    return ax.figure
