"""Figures for the course: images, reconstructions, losses. Inputs are tensors or arrays; outputs Figures.

Every function builds a `CourseFigure` and returns it; none calls `plt.show()` or saves a file.
In a notebook, show a figure in one of two ways:

    plotting.image_grid(x[:64])        # as the cell's last expression: shown once, as a PNG
    display(plotting.image_grid(x))    # anywhere in a cell (from IPython.display import display)

Inside an ipywidgets callback: `with out: out.clear_output(wait=True); display(fig)`.
The figures are made with `Figure()`, not pyplot, so pyplot never holds them: they appear
exactly once (a `plt.subplots` figure returned as the last expression appears twice), they need
no `%matplotlib inline`, and memory is freed with the last reference. `plt.show()` shows nothing
here. Functions with an `ax=` argument draw into that Axes instead, replacing what it showed.
Latent-space figures live in `vaecourse.plotting_latent`.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import Tensor
from torchvision.utils import make_grid

from vaecourse.train import History

Array = Union[Tensor, np.ndarray]
Names = Union[Sequence[str], Mapping, None]  # class_names[label] -> the class's name
LOSS_UNITS = "nats per image (summed over pixels)"
# term: (colour for a single run, line style when runs are overlaid, legend label)
TERM_STYLE = {
    "total": ("black", "-", "total"),
    "recon": ("tab:blue", "--", "recon"),
    "kl": ("tab:orange", ":", "KL"),
}
# matplotlib 3.9 renamed boxplot's `labels` to `tick_labels` and 3.11 removed `labels`; Colab may be older.
_BOXPLOT_LABELS = "tick_labels" if "tick_labels" in inspect.signature(Axes.boxplot).parameters else "labels"


class CourseFigure(Figure):
    """A Figure that Jupyter shows as one PNG, with or without pyplot or `%matplotlib inline`."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.canvas.print_figure(buffer, format="png")
        return buffer.getvalue()


def new_figure(
    nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (7.0, 4.5), *,
    sharex: bool = False, height_ratios: Sequence[float] | None = None,
) -> tuple[CourseFigure, np.ndarray]:
    """A constrained-layout CourseFigure and its Axes as an (nrows, ncols) array."""
    fig = CourseFigure(figsize=figsize, layout="constrained")
    gridspec = {"height_ratios": height_ratios} if height_ratios is not None else None
    return fig, fig.subplots(nrows, ncols, sharex=sharex, squeeze=False, gridspec_kw=gridspec)


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
        ax.images[0].set_data(pixels)  # redraw in place (widgets)
    else:
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


def _grid_figsize(pixels: np.ndarray, extra_height: float = 0.4, per_inch: float = 40) -> tuple[float, float]:
    h, w = pixels.shape[:2]
    scale = min(1 / per_inch, 11 / w)  # per_inch image pixels per inch, at most 11 inches wide
    return max(2.0, w * scale), h * scale + extra_height


def image_grid(
    images: Array, nrow: int = 8, title: str | None = None, ax: Axes | None = None, *,
    padding: int = 2, pad_value: float = 1.0,
) -> Figure:
    """Tile images (N, C, H, W) in [0, 1], nrow per row, separated by padding lines of pad_value."""
    pixels = grid_pixels(to_images(images), nrow, padding, pad_value)
    if ax is None:
        _, axes = new_figure(figsize=_grid_figsize(pixels))
        ax = axes[0, 0]
    show_pixels(ax, pixels)
    ax.set_frame_on(False)
    if title:
        ax.set_title(title)
    return ax.figure


def image_row(
    images: Array, captions: Sequence[str], title: str | None = None, xlabel: str | None = None
) -> Figure:
    """One row of images (K, C, H, W), each captioned underneath (e.g. "α = 0.5", "z₃ + z₈ − z₀")."""
    x = to_images(images)
    if len(captions) != x.shape[0]:
        raise ValueError(f"Got {len(captions)} captions for {x.shape[0]} images.")
    pixels = grid_pixels(x, nrow=x.shape[0])
    fig, axes = new_figure(figsize=_grid_figsize(pixels, extra_height=1.0, per_inch=26))
    ax = axes[0, 0]
    show_pixels(ax, pixels)
    ax.set_xticks(cell_centres(x.shape[0], x.shape[3]), list(captions))
    ax.tick_params(length=0)
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


def reconstructions(
    x: Array, x_hat: Array | Mapping[str, Array], n: int = 10, titles: tuple[str, str] = ("original", "reconstruction")
) -> Figure:
    """First n originals x (N, C, H, W), then reconstructions: x_hat (N, C, H, W) or {name: x_hat}, a row each."""
    originals = to_images(x, "x")[:n]
    named = dict(x_hat) if isinstance(x_hat, Mapping) else {titles[1]: x_hat}
    rows = {titles[0]: originals, **{k: _like(v, originals, f"x_hat[{k!r}]") for k, v in named.items()}}
    width = _grid_figsize(grid_pixels(originals, nrow=n), per_inch=30)[0]
    row_height = width / max(len(originals), 1) + 0.3  # one image and its row title
    fig, axes = new_figure(len(rows), 1, figsize=(width, len(rows) * row_height))
    for ax, (name, images) in zip(axes[:, 0], rows.items()):
        image_grid(images, nrow=n, ax=ax)
        ax.set_title(name, loc="left", fontsize=11)
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


def _plot_run(ax: Axes, ax_ratio: Axes, h: dict, colour: str | None) -> None:
    """Steps (faint raw, smoothed line) and epoch means (dots, mid-epoch) of one run; x in epochs."""
    epochs = np.arange(1, len(h["epoch_total"]) + 1)
    n_steps = len(h.get("step_total") or [])
    x_step = np.arange(1, n_steps + 1) * len(epochs) / max(n_steps, 1)
    for term, (term_colour, style, label) in TERM_STYLE.items():
        c, ls = (term_colour, "-") if colour is None else (colour, style)
        if n_steps:
            ax.plot(x_step, h[f"step_{term}"], color=c, alpha=0.2, lw=0.8)
            ax.plot(x_step, _smooth(h[f"step_{term}"]), color=c, ls=ls, lw=1.8, label=label)
        ax.plot(epochs - 0.5, h[f"epoch_{term}"], "o", color=c, ms=5, label=None if n_steps else label)
    c = colour or "tab:purple"
    if n_steps:
        ax_ratio.plot(x_step, _smooth(_ratio(h["step_kl"], h["step_recon"])), color=c, lw=1.8)
    ax_ratio.plot(epochs - 0.5, _ratio(h["epoch_kl"], h["epoch_recon"]), "o", color=c, ms=5)


def _plot_beta(ax: Axes, runs: dict[str, dict], multi: bool) -> list[Line2D]:
    """β on a right-hand axis for the runs whose β changes; returns legend handles."""
    varying = {k: h for k, h in runs.items() if len(set(h.get("step_beta") or h["epoch_beta"])) > 1}
    if not varying:
        return []
    twin = ax.twinx()
    for i, (name, h) in enumerate(runs.items()):
        if name in varying:
            beta = h.get("step_beta") or h["epoch_beta"]
            x = np.arange(1, len(beta) + 1) * len(h["epoch_beta"]) / len(beta)
            twin.plot(x, beta, color=f"C{i}" if multi else "grey", ls="-.", lw=1.2)
    twin.set_ylabel("β (dash-dot)")
    twin.set_ylim(bottom=0)
    return [Line2D([], [], color="grey", ls="-.", label="β (right axis)")]


def _legend_handles(names: list[str]) -> list[Line2D]:
    """Run colours and term line styles, for overlaid runs."""
    runs = [Line2D([], [], color=f"C{i}", lw=2, label=name) for i, name in enumerate(names)]
    terms = [Line2D([], [], color="grey", ls=style, label=label) for _, style, label in TERM_STYLE.values()]
    return runs + terms


def loss_curves(history: History | Mapping) -> Figure:
    """Total, recon and KL per step (faint; smoothed) and per epoch (dots), and KL/recon below.

    history: a History, its .as_dict(), or {run name: History} to overlay runs.
    """
    runs = _runs(history)
    multi = len(runs) > 1 or "" not in runs
    fig, axes = new_figure(2, 1, figsize=(9, 7), sharex=True, height_ratios=(2, 1))
    ax, ax_ratio = axes[:, 0]
    for i, h in enumerate(runs.values()):
        _plot_run(ax, ax_ratio, h, f"C{i}" if multi else None)
    beta_handles = _plot_beta(ax, runs, multi)
    handles = _legend_handles(list(runs)) if multi else ax.get_legend_handles_labels()[0]
    handles += beta_handles
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=5, frameon=False)
    fig.suptitle("Training loss: faint = each step, line = smoothed, dots = mean over the epoch")
    ax.set_ylabel(LOSS_UNITS)
    ax_ratio.axhspan(0.1, 1.0, color="tab:green", alpha=0.12, label="seed's rule of thumb 0.1–1")
    ax_ratio.set(xlabel="epoch", ylabel="KL / recon", ylim=(0, None))
    ax_ratio.legend(loc="upper right", fontsize=10)
    ax.grid(alpha=0.3)
    ax_ratio.grid(alpha=0.3)
    return fig


def reconstruction_error_analysis(
    errors: Array, labels: Array, class_names: Names = None, metric_name: str = "MSE per pixel"
) -> Figure:
    """The seed's figure: histogram of errors (N,) with their mean, and a boxplot per class of labels (N,)."""
    errors, labels = to_numpy(errors, "errors", ndim=1), to_numpy(labels, "labels", ndim=1).astype(int)
    if len(errors) != len(labels):
        raise ValueError(f"errors has {len(errors)} values but labels has {len(labels)}.")
    fig, axes = new_figure(1, 2, figsize=(12, 4.5))
    hist_ax, box_ax = axes[0]
    hist_ax.hist(errors, bins=50, edgecolor="black", alpha=0.7)
    hist_ax.axvline(errors.mean(), color="red", ls="--", label=f"mean: {errors.mean():.4g}")
    hist_ax.set(xlabel=f"reconstruction error ({metric_name})", ylabel="number of images")
    hist_ax.set_title("Distribution of reconstruction errors")
    hist_ax.legend()
    classes = np.unique(labels)
    by_class = [errors[labels == c] for c in classes]
    names = {_BOXPLOT_LABELS: class_names_for(classes, class_names)}
    box_ax.boxplot(by_class, **names, flierprops={"markersize": 2, "alpha": 0.4})
    box_ax.set(xlabel="class", ylabel=f"reconstruction error ({metric_name})")
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


def pixel_loss_curves(x_target: float, curves: Mapping[str, tuple[Array, Array]]) -> Figure:
    """How each loss scores one pixel: {name: (x_hat values (K,), loss (K,) in nats)} for target x."""
    fig, axes = new_figure(figsize=(7.5, 4.5))
    ax = axes[0, 0]
    for name, (x_hat, loss) in curves.items():
        x_hat, loss = to_numpy(x_hat, f"{name} x_hat", ndim=1), to_numpy(loss, f"{name} loss", ndim=1)
        if x_hat.shape != loss.shape:
            raise ValueError(f"{name}: {len(x_hat)} x_hat values but {len(loss)} losses.")
        (line,) = ax.plot(x_hat, loss, lw=2, label=name)
        best = np.nanargmin(loss)
        ax.plot(x_hat[best], loss[best], "o", color=line.get_color(), ms=6)
    ax.axvline(x_target, color="grey", ls="--", label=f"target x = {x_target:g}")
    ax.set(xlabel=r"prediction $\hat{x}$ for the pixel", ylabel="loss for this pixel (nats)")
    ax.set_title(f"How each loss scores one pixel whose target is x = {x_target:g}")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


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
    fig, axes = new_figure(1, 1, figsize=(7, 4))
    ax = axes[0, 0]
    ax.plot(epochs - 0.5, train, "o-", color="tab:blue", label="training (mean over the epoch)")
    ax.plot(epochs, val, "s-", color="tab:orange", label="validation (after the epoch)")
    ax.set(xlabel="epoch", ylabel=LOSS_UNITS, title=f"{'−ELBO' if val_key == 'neg_elbo' else val_key}: training vs validation")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig
