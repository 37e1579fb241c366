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
Latent-space figures live in `vaecourse.plotting_latent`.
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
from torchvision.utils import make_grid

from vaecourse.style import BLACK, BLUE, GREEN, HIGHLIGHT, ORANGE, PALETTE, PURPLE, REFERENCE, current, styled
from vaecourse.style import CourseFigure, new_figure  # noqa: F401 (re-exported: notebooks call plotting.new_figure)
from vaecourse.train import History

Array = Union[Tensor, np.ndarray]
Names = Union[Sequence[str], Mapping, None]  # class_names[label] -> the class's name
LOSS_UNITS = "nats per image (summed over pixels)"
LOSS_LABEL = "nats per image\n(summed over pixels)"  # as an axis label: two short lines fit a projected figure
# term: (colour for a single run, line style when runs are overlaid, legend label)
TERM_STYLE = {
    "total": (BLACK, "-", "total"),
    "recon": (BLUE, "--", "recon"),
    "kl": (ORANGE, ":", "KL"),
}
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


def _smooth(y: Sequence[float], frac: float = 0.02) -> np.ndarray:
    """Centred moving average over about frac·len(y) steps: no lag, shorter windows at the ends."""
    y = np.asarray(y, dtype=float)
    window = np.ones(max(1, int(frac * len(y))) | 1)  # odd, so that it is centred
    return np.convolve(y, window, "same") / np.convolve(np.ones(len(y)), window, "same")


def _runs(history: History | Mapping) -> dict[str, dict]:
    """{run name: History as a dict}; a single History (or its dict) becomes {"": ...}."""
    single = isinstance(history, History) or (isinstance(history, Mapping) and "epoch_total" in history)
    runs = {"": history} if single else dict(history)
    runs = {k: h.as_dict() if isinstance(h, History) else dict(h) for k, h in runs.items()}
    for name, h in runs.items():
        if not h.get("epoch_total"):
            raise ValueError(f"History {name!r} has no epochs; pass what `fit` returned or its .as_dict().")
    return runs


def _ratio(kl: Sequence[float], recon: Sequence[float]) -> np.ndarray:
    recon = np.asarray(recon, dtype=float)
    return np.asarray(kl, dtype=float) / np.where(recon > 0, recon, np.nan)  # undefined if recon <= 0


def _plot_series(ax: Axes, epoch_values: Sequence[float], step_values: Sequence[float] | None,
                 colour: str, ls: str = "-", label: str | None = None) -> None:
    """One curve of one run: steps (faint raw, smoothed line) and epoch means (dots, mid-epoch); x in epochs."""
    epochs = np.arange(1, len(epoch_values) + 1)
    if step_values is not None and len(step_values):
        x_step = np.arange(1, len(step_values) + 1) * len(epochs) / len(step_values)
        ax.plot(x_step, step_values, color=colour, alpha=0.2, lw=0.5 * current().line_width)
        ax.plot(x_step, _smooth(step_values), color=colour, ls=ls, label=label)
        label = None
    ax.plot(epochs - 0.5, epoch_values, "o", color=colour, label=label)


def _plot_ratio(ax: Axes, h: dict, colour: str) -> None:
    """KL / recon of one run: per step (smoothed only: the raw ratio is noise) and per epoch (dots)."""
    epochs = np.arange(1, len(h["epoch_kl"]) + 1)
    if h.get("step_kl"):
        x_step = np.arange(1, len(h["step_kl"]) + 1) * len(epochs) / len(h["step_kl"])
        ax.plot(x_step, _smooth(_ratio(h["step_kl"], h["step_recon"])), color=colour)
    ax.plot(epochs - 0.5, _ratio(h["epoch_kl"], h["epoch_recon"]), "o", color=colour)


def _plot_beta(ax: Axes, runs: dict[str, dict], colours: list[str]) -> list[Line2D]:
    """β on a right-hand axis for the runs whose β changes; returns legend handles."""
    varying = {k: h for k, h in runs.items() if len(set(h.get("step_beta") or h["epoch_beta"])) > 1}
    if not varying:
        return []
    twin = ax.twinx()
    for colour, (name, h) in zip(colours, runs.items()):
        if name in varying:
            beta = h.get("step_beta") or h["epoch_beta"]
            x = np.arange(1, len(beta) + 1) * len(h["epoch_beta"]) / len(beta)
            twin.plot(x, beta, color=colour, ls="-.", lw=0.7 * current().line_width)
    twin.set_ylabel("β (dash-dot)")
    twin.set_ylim(bottom=0)
    return [Line2D([], [], color=REFERENCE, ls="-.", label="β (right axis)")]


def _ratio_panel(ax: Axes) -> None:
    """Labels and the seed's 0.1–1 band on the KL / recon panel."""
    ax.axhspan(0.1, 1.0, color=GREEN, alpha=0.12, label="seed's rule of thumb 0.1–1")
    ax.set(xlabel="epoch", ylabel="KL / recon (no unit)", ylim=(0, None))
    ax.legend(loc="upper right")


def _single_run(h: dict) -> Figure:
    """Total, recon and KL of one run in one panel (colour = term), KL / recon below."""
    fig, axes = new_figure(2, 1, figsize=(9, 6.5), sharex=True, height_ratios=(2, 1))
    ax, ax_ratio = axes[:, 0]
    for term, (colour, _, label) in TERM_STYLE.items():
        _plot_series(ax, h[f"epoch_{term}"], h.get(f"step_{term}"), colour, label=label)
    _plot_ratio(ax_ratio, h, PURPLE)
    handles = ax.get_legend_handles_labels()[0] + _plot_beta(ax, {"": h}, [REFERENCE])
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=4, frameon=False)
    ax.set_ylabel(LOSS_LABEL)
    _ratio_panel(ax_ratio)
    return fig


def _several_runs(runs: dict[str, dict]) -> Figure:
    """One panel per term (total, recon, KL) and KL / recon, one colour per run."""
    if len(runs) > len(PALETTE):
        raise ValueError(f"loss_curves compares at most {len(PALETTE)} runs (more colours cannot be told apart); "
                         f"got {len(runs)}.")
    colours = list(PALETTE[: len(runs)])
    fig, axes = new_figure(2, 2, figsize=(9, 6.5), sharex=True)
    for ax, (term, (_, _, label)) in zip(axes.flat, TERM_STYLE.items()):
        for colour, h in zip(colours, runs.values()):
            _plot_series(ax, h[f"epoch_{term}"], h.get(f"step_{term}"), colour)
        ax.set(ylabel="nats per image", title=label)
    for colour, h in zip(colours, runs.values()):
        _plot_ratio(axes[1, 1], h, colour)
    axes[1, 1].set_title("KL / recon")
    axes[1, 0].set_xlabel("epoch")
    _ratio_panel(axes[1, 1])
    handles = [Line2D([], [], color=c, label=name) for c, name in zip(colours, runs)]
    handles += _plot_beta(axes[0, 0], runs, colours)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False)
    return fig


@styled
def loss_curves(history: History | Mapping) -> Figure:
    """Total, recon and KL per step (faint; smoothed) and per epoch (dots), and KL/recon, in nats per image.

    history: a History, its .as_dict(), or {run name: History} to compare runs (a panel per term,
    a colour per run, at most 7 runs).
    """
    runs = _runs(history)
    fig = _single_run(runs[""]) if len(runs) == 1 and "" in runs else _several_runs(runs)
    fig.suptitle("Training loss, nats per image (summed over pixels)\n"
                 "faint = each step, line = smoothed, dots = mean over the epoch")
    for ax in fig.axes:
        if not ax.get_ylabel().startswith("β"):
            ax.grid(alpha=0.3)
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


@styled
def train_vs_val(history: History | Mapping, val_key: str = "neg_elbo") -> Figure:
    """Per epoch: the training loss (mean over the epoch's steps) and the validation loss after it.

    history: what `fit(..., x_val=...)` returned (or its .as_dict()); val_key: which `evaluate`
    number to draw (neg_elbo, recon or kl). Both in nats per image, summed over pixels.
    """
    h = history.as_dict() if isinstance(history, History) else dict(history)
    train_key = {"neg_elbo": "epoch_total", "recon": "epoch_recon", "kl": "epoch_kl"}.get(val_key)
    if train_key is None:
        raise ValueError(f"val_key must be 'neg_elbo', 'recon' or 'kl', got {val_key!r}.")
    if not h.get("val") or len(h["val"]) != len(h.get(train_key) or []):
        raise ValueError("train_vs_val needs a History from fit(..., x_val=...): one validation result per epoch.")
    train = np.asarray(h[train_key], dtype=float)
    val = np.asarray([v[val_key] for v in h["val"]], dtype=float)
    epochs = np.arange(1, len(train) + 1)
    fig, axes = new_figure(1, 1, figsize=(7, 4.5))
    ax = axes[0, 0]
    ax.plot(epochs - 0.5, train, "o-", color=BLUE, label="training (mean over the epoch)")
    ax.plot(epochs, val, "s-", color=ORANGE, label="validation (after the epoch)")
    ax.set(xlabel="epoch", ylabel=LOSS_LABEL, title=f"{'−ELBO' if val_key == 'neg_elbo' else val_key}: training vs validation")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig
