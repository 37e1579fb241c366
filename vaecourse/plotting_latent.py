"""Figures of the latent space: scatter, manifold, interpolation, traversal, rate–distortion, bottleneck.

Same contract as `vaecourse.plotting` (whose module docstring says how to display them): inputs are
tensors or arrays on any device, every function returns a `CourseFigure` in the course style
(`vaecourse.style`), nothing is shown or saved here. `draw_*` functions draw into a given Axes and
return what a slider updates in place (`vaecourse.widgets` uses them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from threadpoolctl import threadpool_limits
from torch import Tensor

from vaecourse.analysis import INFORMATIVE_NATS
from vaecourse.plotting import (
    Array,
    Names,
    cell_centres,
    class_names_for,
    grid_figsize,
    grid_pixels,
    image_row,
    label_cells,
    show_pixels,
    tilt_crowded_xlabels,
    to_images,
    to_numpy,
)
from vaecourse.style import BLACK, BLUE, CLASS_COLOURS, HIGHLIGHT, MUTED, REFERENCE, current, new_figure, styled

PROJECTIONS = ("auto", "direct", "pca", "tsne")


def _subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    """Indices of at most max_points of n items, random but seeded, in their original order."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def project_2d(z: np.ndarray, method: str, seed: int = 0) -> tuple[np.ndarray, tuple[str, str], str]:
    """z (N, D) -> (points (N, 2), axis labels, projection name) by "direct", "pca" or "tsne"."""
    if method == "direct":
        return z[:, :2], ("$z_1$ (latent coordinate)", "$z_2$ (latent coordinate)"), "Direct plot"
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed)
        points = pca.fit_transform(z)
        share = 100 * pca.explained_variance_ratio_
        return points, (f"PC 1 ({share[0]:.0f}% of variance)", f"PC 2 ({share[1]:.0f}%)"), "PCA"
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(z) - 1) / 3)  # t-SNE needs perplexity < N
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    # One OpenMP thread: on a busy 2-core machine two threads spin-wait and run ~10x slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        return tsne.fit_transform(z), ("t-SNE 1 (no unit)", "t-SNE 2 (no unit)"), "t-SNE"


def _scatter_by_class(ax: Axes, points: np.ndarray, labels: np.ndarray, class_names: Names) -> None:
    """points (N, 2) coloured by labels (N,): CLASS_COLOURS and a legend up to 10 classes, else a colorbar."""
    classes, size = np.unique(labels), current().marker_size ** 2 / 6  # points², about 6 in a notebook
    if len(classes) > 10:  # viridis: ordered and colour-blind safe
        cloud = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="viridis", s=size, alpha=0.6)
        ax.figure.colorbar(cloud, ax=ax, label="label")
        return
    ax.scatter(points[:, 0], points[:, 1], c=[CLASS_COLOURS[c % 10] for c in labels], s=size, alpha=0.6)
    names = class_names_for(classes, class_names)
    handles = [Line2D([], [], ls="", marker="o", color=CLASS_COLOURS[c % 10], label=name) for c, name in zip(classes, names)]
    ax.legend(handles=handles, title="class", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def _check_latents(z: Array, labels: Array, method: str) -> tuple[np.ndarray, np.ndarray, str]:
    """z (N, D) float32, labels (N,) int and the projection method ("auto" resolved)."""
    z, labels = to_numpy(z, "z", ndim=2).astype(np.float32), to_numpy(labels, "labels", ndim=1).astype(int)
    if len(z) != len(labels):
        raise ValueError(f"z has {len(z)} rows but labels has {len(labels)} values.")
    if method not in PROJECTIONS:
        raise ValueError(f"Unknown method {method!r}; choose one of {PROJECTIONS}.")
    d = z.shape[1]
    method = ("direct" if d == 2 else "tsne") if method == "auto" else method
    if (method == "direct" and d != 2) or d < 2:
        raise ValueError(f"method={method!r} needs D = 2 (pca and tsne: D >= 2); z has D = {d}.")
    return z, labels, method


@styled
def latent_scatter(
    z: Array,
    labels: Array,
    method: str = "auto",
    class_names: Names = None,
    max_points: int = 2000,
    seed: int = 0,
) -> Figure:
    """z (N, D) coloured by labels (N,): drawn directly if D = 2, else by PCA or t-SNE ("auto": t-SNE).

    At most max_points random points (seeded) are drawn: t-SNE costs ~10 s of CPU for 2000, ~30 s for 5000.
    """
    z, labels, method = _check_latents(z, labels, method)
    keep = _subsample(len(z), max_points, seed)
    points, axis_labels, name = project_2d(z[keep], method, seed)
    fig, axes = new_figure(figsize=(8, 6))
    ax = axes[0, 0]
    _scatter_by_class(ax, points, labels[keep], class_names)
    ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1])
    ax.set_title(f"{name} of the {z.shape[1]}-D latent space ({len(keep)} points)")
    if method == "tsne":  # t-SNE coordinates have no units; only neighbourhoods mean something
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def manifold_values(n: int = 20, z_range: float = 2.0, use_normal_quantiles: bool = True) -> Tensor:
    """n grid values in [-z_range, z_range]: evenly spaced, or at evenly spaced N(0, 1) quantiles."""
    if not use_normal_quantiles:
        return torch.linspace(-z_range, z_range, n)
    normal = torch.distributions.Normal(0.0, 1.0)
    p = normal.cdf(torch.tensor(-z_range))
    return normal.icdf(torch.linspace(float(p), float(1 - p), n))


def _label_values(ax: Axes, values: Sequence[float], cell: int, axis: str) -> None:
    """Ticks at the centre of each image cell (no padding), labelled with values, about 8 of them."""
    every = max(1, -(-len(values) // 8))
    labels = [f"{v:.1f}" if i % every == 0 else "" for i, v in enumerate(values)]
    (ax.set_xticks if axis == "x" else ax.set_yticks)(cell_centres(len(values), cell, padding=0), labels)


def _decoder_device(decode_fn: Callable) -> torch.device:
    """Where the model behind decode_fn (e.g. model.decode) keeps its weights; the CPU otherwise."""
    model = getattr(decode_fn, "__self__", decode_fn)
    parameter = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def decode_on_its_device(decode_fn: Callable[[Tensor], Tensor], z: Tensor) -> Tensor:
    """decode_fn(z) with z (M, D) moved to the decoder's device; the images (M, C, H, W) on the CPU."""
    return decode_fn(z.to(_decoder_device(decode_fn))).detach().cpu()


@styled
def latent_manifold(
    decode_fn: Callable[[Tensor], Tensor],
    n: int = 20,
    z_range: float = 2.0,
    use_normal_quantiles: bool = True,
) -> Figure:
    """Decode an n×n grid of z = (z₁, z₂) and tile it; decode_fn maps z (M, 2) to (M, C, H, W) in [0, 1]."""
    values = manifold_values(n, z_range, use_normal_quantiles)  # (n,)
    z2, z1 = torch.meshgrid(values.flip(0), values, indexing="ij")  # top row = largest z₂
    images = to_images(decode_on_its_device(decode_fn, torch.stack((z1.flatten(), z2.flatten()), dim=1)),
                       "decode_fn(z)")
    if images.shape[0] != n * n:
        raise ValueError(f"decode_fn returned {images.shape[0]} images for {n * n} latent points.")
    pixels = grid_pixels(images, nrow=n, padding=0)
    fig, axes = new_figure(figsize=grid_figsize(pixels, extra=(1.0, 1.2)))
    ax = axes[0, 0]
    show_pixels(ax, pixels)
    _label_values(ax, values.tolist(), images.shape[3], "x")
    _label_values(ax, values.flip(0).tolist(), images.shape[2], "y")
    spacing = "N(0, 1) quantiles" if use_normal_quantiles else "evenly spaced"
    ax.set(xlabel="$z_1$ (prior standard deviations)", ylabel="$z_2$ (prior standard deviations)",
           title=f"Decoded {n}×{n} grid of z ({spacing})")
    return fig


@styled
def interpolation_strip(
    images: Array, alphas: Array | None = None, title: str = "Decoding along a straight line in latent space"
) -> Figure:
    """Images (K, C, H, W) decoded along a path from z_start (α = 0) to z_end (α = 1), labelled by α (K,)."""
    x = to_images(images)
    alphas = np.linspace(0, 1, x.shape[0]) if alphas is None else to_numpy(alphas, "alphas", ndim=1)
    if len(alphas) != x.shape[0]:
        raise ValueError(f"Got {len(alphas)} alphas for {x.shape[0]} images.")
    return image_row(x, [f"{a:.2g}" for a in alphas], title=title, xlabel="α  (0 = start, 1 = end)")


@styled
def latent_traversal(images: Array, values: Array, n_dims: int, dims: Sequence[int] | None = None) -> Figure:
    """Images (n_dims·V, C, H, W), row-major: row = latent dimension (named by dims), column = value (V,)."""
    x, values = to_images(images), to_numpy(values, "values", ndim=1)
    if x.shape[0] != n_dims * len(values):
        raise ValueError(f"Expected n_dims × len(values) = {n_dims * len(values)} images; got {x.shape[0]}.")
    dims = list(range(n_dims)) if dims is None else list(dims)
    if len(dims) != n_dims:
        raise ValueError(f"dims names {len(dims)} dimensions but n_dims = {n_dims}.")
    pixels = grid_pixels(x, nrow=len(values))
    width, height = grid_figsize(pixels, extra=(1.4, 1.6))
    fig, axes = new_figure(figsize=(max(width, 5.5), height))  # wide enough for the axis label
    ax = axes[0, 0]
    show_pixels(ax, pixels)
    label_cells(ax, x, len(values), [f"$z_{{{d}}}$" for d in dims], [f"{v:.2g}" for v in values])
    tilt_crowded_xlabels(ax)
    ax.set_frame_on(False)
    ax.set(xlabel="value of $z_j$ (prior standard deviations)", ylabel="latent dimension $j$")
    ax.set_title("Latent traversal: one dimension varies,\nthe others stay at the image's code")
    return fig


def mark(ax: Axes, x: float, y: float, label: str, filled: bool = False) -> Line2D:
    """A large ring (or dot, filled) around one point, to highlight it; a slider moves it with set_data."""
    s = current()
    return ax.plot([x], [y], "o", color=HIGHLIGHT, ms=(1.6 if filled else 2.4) * s.marker_size, mfc=HIGHLIGHT if filled else "none",
                   mew=s.line_width, zorder=3, label=label)[0]


def _rate_distortion_pair(value: tuple[float, float] | Mapping[str, float]) -> tuple[float, float]:
    """(rate, distortion) from a (kl, recon) pair or an `evaluate` dict with "kl" and "recon"."""
    if isinstance(value, Mapping):
        return float(value["kl"]), float(value["recon"])
    rate, distortion = value
    return float(rate), float(distortion)


def draw_rate_distortion(
    ax: Axes, points: Mapping[float, tuple[float, float] | Mapping[str, float]], highlight: float | None = None,
    highlight_label: str | None = None,
) -> Line2D | None:
    """Rate against distortion, one point per β, {β: (kl, recon)}, into ax; returns the highlight ring."""
    if not points:
        raise ValueError("points is empty; pass {beta: (kl, recon)} for at least one β.")
    if highlight is not None and highlight not in points:
        raise ValueError(f"highlight={highlight!r} is not one of the β values {sorted(points)}.")
    betas = sorted(points, key=lambda b: _rate_distortion_pair(points[b])[0])
    rate, distortion = np.array([_rate_distortion_pair(points[b]) for b in betas]).T  # (K,), (K,)
    ax.plot(rate, distortion, "o-", color=BLUE, label="trained models")
    for b, r, d in zip(betas, rate, distortion):
        ax.annotate(f"β={b:g}", (r, d), textcoords="offset points", xytext=(6, 6))
    best = np.argmin(rate + distortion)  # -ELBO = R + D: the β = 1 objective
    ax.axline((rate[best], distortion[best]), slope=-1, color=REFERENCE, ls="--", label="lowest R + D")
    ring = None
    if highlight is not None:
        ring = mark(ax, *_rate_distortion_pair(points[highlight]), label=highlight_label or f"β = {highlight:g}")
    ax.margins(x=0.15, y=0.1)  # room for the β labels
    ax.set(xlabel="rate: KL (nats per image)", ylabel="distortion: recon (nats per image)")
    ax.legend(loc="upper right")  # the curve falls from upper left to lower right
    ax.grid(alpha=0.3)
    return ring


@styled
def rate_distortion(
    points: Mapping[float, tuple[float, float] | Mapping[str, float]], highlight: float | None = None
) -> Figure:
    """Rate (KL) against distortion (recon) in nats per image, one point per β: {β: (kl, recon)}."""
    fig, axes = new_figure(figsize=(7.5, 5.5))
    ax = axes[0, 0]
    draw_rate_distortion(ax, points, highlight)
    ax.set_title("Rate–distortion trade-off across β\nnats per image, summed over pixels")
    return fig


def kl_title(kl: Tensor | np.ndarray, threshold: float) -> str:
    """The KL bar chart's title: how many of the D dimensions carry more than threshold nats."""
    return f"KL per dimension\n{int((np.asarray(kl) > threshold).sum())} of {len(kl)} carry > {threshold:g} nats"


def draw_kl_bars(ax: Axes, latent_dim: int, threshold: float) -> BarContainer:
    """Empty KL bars for dimensions 0..latent_dim-1, the threshold line and the legend; fill with update_kl_bars."""
    bars = ax.bar(np.arange(latent_dim), np.zeros(latent_dim), color=BLUE, edgecolor=BLACK)
    ax.axhline(threshold, color=HIGHLIGHT, ls="--", label=f"threshold {threshold:g} nats")
    ax.legend(handles=[
        *ax.get_legend_handles_labels()[0],
        Line2D([], [], color=BLUE, lw=6, label="carries information"),
        Line2D([], [], color=MUTED, lw=6, label="unused (collapsed)"),
    ])
    ax.set_xticks(np.arange(0, latent_dim, -(-latent_dim // 8)))
    ax.set(xlabel="latent dimension", ylabel="KL (nats per image)")
    return bars


def update_kl_bars(bars: BarContainer, kl: Sequence[float], threshold: float) -> None:
    """Set each bar to its KL (D,); blue above threshold (carries information), grey below."""
    for bar, value in zip(bars, kl):
        bar.set_height(float(value))
        bar.set_facecolor(BLUE if value > threshold else MUTED)


@styled
def kl_per_dim_bar(kl_per_dim: Array, threshold: float = INFORMATIVE_NATS) -> Figure:
    """KL per latent dimension (D,), or (N, D) averaged over N, in nats; dims above threshold carry information."""
    kl = to_numpy(kl_per_dim, "kl_per_dim")
    if kl.ndim not in (1, 2):
        raise ValueError(f"kl_per_dim must be (D,) or (N, D); got shape {kl.shape}.")
    kl = kl.mean(axis=0) if kl.ndim == 2 else kl  # (D,), in dimension order: the index matters
    fig, axes = new_figure(figsize=(max(6.0, 0.3 * len(kl) + 2), 4.5))
    ax = axes[0, 0]
    update_kl_bars(draw_kl_bars(ax, len(kl), threshold), kl, threshold)
    ax.relim()
    ax.autoscale_view()
    ax.set_title(kl_title(kl, threshold))
    return fig


def draw_error_curve(
    ax: Axes, dims: Sequence[int], errors: Array, elbow: int | None = None, ylabel: str = "test error (MSE per pixel)"
) -> None:
    """errors (K,) against latent sizes dims (K,) on a log₂ axis into ax, the elbow ringed."""
    dims, errors = to_numpy(dims, "dims", ndim=1), to_numpy(errors, "errors", ndim=1)
    if len(dims) != len(errors):
        raise ValueError(f"dims has {len(dims)} values but errors has {len(errors)}.")
    if elbow is not None and elbow not in dims:
        raise ValueError(f"elbow={elbow} is not one of dims {dims.tolist()}.")
    ax.plot(dims, errors, "o-", color=BLUE)
    if elbow is not None:
        mark(ax, elbow, errors[list(dims).index(elbow)], label=f"elbow: {elbow}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(dims, [str(int(d)) for d in dims])
    ax.minorticks_off()
    ax.set(xlabel="latent dimension k (log scale)", ylabel=ylabel)
    ax.grid(alpha=0.3)


@styled
def error_vs_latent_dim(
    dims: Sequence[int], errors: Array, elbow: int | None = None, ylabel: str = "test error (MSE per pixel)"
) -> Figure:
    """The seed's find_optimal_latent_dim curve: errors (K,) against latent sizes dims (K,), log₂ x axis."""
    fig, axes = new_figure(figsize=(7.5, 4.5))
    ax = axes[0, 0]
    draw_error_curve(ax, dims, errors, elbow, ylabel)
    if elbow is not None:
        ax.legend()
    ax.set_title("The bottleneck: reconstruction error vs latent size")
    return fig
