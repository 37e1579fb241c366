"""Sliders that answer at once: ipywidgets around figures drawn from the model bank.

Each explorer keeps one matplotlib Figure and updates its artists in place; `redraw` is a
plain function of the slider value (no training, no model calls for the bank sliders), and
the result is shown as PNG bytes in an `ipywidgets.Image`. Works with ipywidgets 7.7 and 8.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import PIL.Image
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor
from torchvision.utils import make_grid

from vaecourse.analysis import find_elbow, lerp, slerp
from vaecourse.bank import INFORMATIVE_NATS, BankEntry, ModelBank
from vaecourse.losses import elementwise_recon_nll


def png_bytes(fig: Figure, dpi: int = 80) -> bytes:
    """Render `fig` to PNG bytes (a full draw; explorers use their faster blitted path)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def grid_image(images: Tensor, nrow: int) -> Tensor:
    """(N, C, H, W) in [0, 1] -> (H', W') grey image of the tiles, via torchvision's make_grid."""
    return make_grid(images, nrow=nrow, padding=2, pad_value=1.0)[0]


def _image_axes(ax, title: str, image: Tensor):
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")


def _slider(options: list, value, description: str, css_class: str) -> widgets.SelectionSlider:
    slider = widgets.SelectionSlider(
        options=[(f"{v:g}", v) for v in options], value=value, description=description,
        continuous_update=True, layout=widgets.Layout(width="420px"),
    )
    slider.add_class(css_class)
    return slider


class _Explorer:
    """A slider, an image view and a figure; subclasses implement `redraw(value)`.

    Speed: the static parts (axes, ticks, labels) are drawn once; each change redraws only
    the artists listed in `self.dynamic` over that background (blitting), then PNG-encodes.
    """

    slider: widgets.SelectionSlider
    fig: Figure
    dynamic: list

    def _wire(self, view_class: str, dpi: int = 80) -> None:
        self.fig.set_dpi(dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        for artist in self.dynamic:
            artist.set_animated(True)
        self.canvas.draw()  # lays out once, without the dynamic artists
        self.fig.set_layout_engine("none")
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.view = widgets.Image(format="png")
        self.view.add_class(view_class)
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.widget = widgets.VBox([self.slider, self.view])
        self.show(self.slider.value)

    def show(self, value) -> None:
        """Redraw for `value` and push the PNG to the view."""
        self.redraw(value)
        self.view.value = self.render()

    def render(self) -> bytes:
        """Blit the dynamic artists over the static background; PNG bytes."""
        self.canvas.restore_region(self.background)
        for artist in self.dynamic:
            self.fig.draw_artist(artist)
        width, height = self.canvas.get_width_height()
        image = PIL.Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    def redraw(self, value) -> None:
        raise NotImplementedError

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


ROW_NAMES = ("test image", "reconstruction", "prior sample")


def strip_image(bank: ModelBank, entry: BankEntry) -> np.ndarray:
    """Rows: the bank's test images, their reconstructions, prior samples; cached per member."""
    key = (entry.beta, entry.latent_dim)
    if key not in bank.strips:
        tiles = torch.cat([bank.x_show, entry.recon, entry.samples])
        bank.strips[key] = grid_image(tiles, len(bank.x_show)).numpy()
    return bank.strips[key]


def _strip_axes(ax, n: int, tile: int, rows: tuple[str, ...]):
    """An image axes for a strip of `len(rows)` rows of n tiles, rows named on the left."""
    ax.set_xticks([])
    ax.set_yticks([2 + (tile + 2) * i + tile / 2 for i in range(len(rows))], rows, fontsize=10)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    blank = torch.ones(len(rows) * (tile + 2) + 2, n * (tile + 2) + 2)
    return ax.imshow(blank.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")


class BetaExplorer(_Explorer):
    """β slider: reconstructions, prior samples, rate–distortion point and KL per dimension."""

    def __init__(self, bank: ModelBank, latent_dim: int = 16, beta: float = 1.0) -> None:
        self.bank, self.latent_dim = bank, latent_dim
        self.points = [bank.entry(b, latent_dim) for b in bank.betas]
        self.fig = Figure(figsize=(10, 6.4), layout="constrained")
        axes = self.fig.subplot_mosaic([["img", "img"], ["rd", "kl"]], height_ratios=[1, 1.15])
        n, tile = len(bank.x_show), bank.x_show.shape[-1]
        self.strip = _strip_axes(axes["img"], n, tile, ROW_NAMES)
        self.rd_marker = self._draw_rate_distortion(axes["rd"])
        self.bars, self.kl_title = self._draw_kl_axes(axes["kl"])
        self.title = self.fig.suptitle(" ", fontsize=12)
        self.dynamic = [self.strip, self.rd_marker, *self.bars, self.kl_title, self.title]
        self.slider = _slider(list(bank.betas), beta, "β", "vaecourse-beta-slider")
        self._wire("vaecourse-beta-view")

    def _draw_rate_distortion(self, ax):
        kl, recon = [p.kl for p in self.points], [p.recon_nats for p in self.points]
        ax.plot(kl, recon, "o-", color="0.6")
        for p in self.points:
            ax.annotate(f"β={p.beta:g}", (p.kl, p.recon_nats), fontsize=9, xytext=(5, 3),
                        textcoords="offset points")
        ax.set_xlabel("rate: KL (nats per image)")
        ax.set_ylabel("distortion: BCE (nats per image)")
        ax.set_title(f"rate–distortion on the test set (latent dim {self.latent_dim})", fontsize=10)
        return ax.plot([kl[0]], [recon[0]], "o", color="C3", markersize=12)[0]

    def _draw_kl_axes(self, ax):
        dims = range(1, self.latent_dim + 1)
        bars = ax.bar(dims, [0.0] * self.latent_dim, color="C0")
        top = max(float(p.kl_per_dim.max()) for p in self.points)
        ax.set_ylim(0, 1.1 * top)  # the same scale for every β, so bars compare across β
        ax.set_xlabel("latent dimension")
        ax.set_ylabel("KL (nats per image)")
        return list(bars), ax.set_title(" ", fontsize=10)

    def redraw(self, beta: float) -> None:
        """Show the bank member (beta, latent_dim); draws only, no model calls."""
        e = self.bank.entry(beta, self.latent_dim)
        self.strip.set_data(strip_image(self.bank, e))
        self.rd_marker.set_data([e.kl], [e.recon_nats])
        for bar, value, used in zip(self.bars, e.kl_per_dim.tolist(), e.informative.tolist()):
            bar.set_height(value)
            bar.set_color("C0" if used else "0.75")
        self.kl_title.set_text(f"KL per dimension: {int(e.informative.sum())} of {self.latent_dim} "
                               f"carry > {INFORMATIVE_NATS:g} nats (blue)")
        self.title.set_text(f"β = {beta:g}:  −ELBO {e.neg_elbo:.1f} = recon {e.recon_nats:.1f} + KL "
                            f"{e.kl:.1f} nats per test image (summed over pixels)")


class LatentDimExplorer(_Explorer):
    """Latent-size slider: reconstructions at that size and error vs dimension with its elbow."""

    def __init__(self, bank: ModelBank, beta: float = 1.0, latent_dim: int = 2) -> None:
        self.bank, self.beta = bank, beta
        self.points = [bank.entry(beta, d) for d in bank.latent_dims]
        errors = [p.recon_nats for p in self.points]
        self.elbow = find_elbow(list(bank.latent_dims), errors)
        self.fig = Figure(figsize=(10, 6.4), layout="constrained")
        ax_img, ax_curve = self.fig.subplots(2, 1, height_ratios=[1, 1.15])
        n, tile = len(bank.x_show), bank.x_show.shape[-1]
        self.strip = _strip_axes(ax_img, n, tile, ROW_NAMES)
        ax_curve.plot(bank.latent_dims, errors, "o-", color="0.4")
        ax_curve.set_xscale("log", base=2)
        ax_curve.set_xticks(bank.latent_dims, [str(d) for d in bank.latent_dims])
        ax_curve.axvline(self.elbow, color="C2", linestyle="--", label=f"elbow: {self.elbow}")
        self.marker = ax_curve.plot([], [], "o", color="C3", markersize=12, label="this size")[0]
        ax_curve.set_xlabel("latent dimension")
        ax_curve.set_ylabel("recon BCE (nats per image)")
        ax_curve.set_title(f"test reconstruction error vs latent size, β = {beta:g}", fontsize=10)
        ax_curve.legend(fontsize=9)
        self.title = self.fig.suptitle(" ", fontsize=12)
        self.dynamic = [self.strip, self.marker, self.title]
        self.slider = _slider(list(bank.latent_dims), latent_dim, "latent dim", "vaecourse-latent-slider")
        self._wire("vaecourse-latent-view")

    def redraw(self, latent_dim: int) -> None:
        """Show the bank member (beta, latent_dim); draws only, no model calls."""
        e = self.bank.entry(self.beta, latent_dim)
        self.strip.set_data(strip_image(self.bank, e))
        self.marker.set_data([latent_dim], [e.recon_nats])
        self.title.set_text(f"latent dim {latent_dim}:  recon {e.recon_nats:.1f} nats per test image "
                            f"(summed over pixels);  {int(e.informative.sum())} of {latent_dim} dims carry "
                            f"> {INFORMATIVE_NATS:g} nats")


class InterpolationExplorer(_Explorer):
    """α slider between two latent codes: linear and spherical paths decoded side by side."""

    def __init__(self, decode, z0: Tensor, z1: Tensor, steps: int = 11, image_shape=(28, 28)) -> None:
        self.decode, self.z0, self.z1 = decode, z0, z1
        self.fig = Figure(figsize=(5, 3), layout="constrained")
        ax_lin, ax_sph = self.fig.subplots(1, 2)
        self.lin_img = _image_axes(ax_lin, "linear (lerp)", torch.zeros(image_shape))
        self.sph_img = _image_axes(ax_sph, "spherical (slerp)", torch.zeros(image_shape))
        self.title = self.fig.suptitle(" ", fontsize=11)
        self.dynamic = [self.lin_img, self.sph_img, self.title]
        alphas = [round(i / (steps - 1), 3) for i in range(steps)]
        self.slider = _slider(alphas, alphas[0], "α", "vaecourse-alpha-slider")
        self._wire("vaecourse-alpha-view")

    @torch.no_grad()
    def redraw(self, alpha: float) -> None:
        """Decode the two interpolants at α (one small decoder call)."""
        a = torch.tensor([alpha])
        z = torch.cat([lerp(self.z0, self.z1, a), slerp(self.z0, self.z1, a)])
        images = self.decode(z)[:, 0]  # (2, H, W)
        self.lin_img.set_data(images[0].numpy())
        self.sph_img.set_data(images[1].numpy())
        self.title.set_text(f"α = {alpha:g}: z = path(z₀, z₁, α)")


class PixelLossExplorer(_Explorer):
    """Slide the true pixel value x; see how BCE, MSE, L1 and a Gaussian NLL score each x̂."""

    LOSSES = (("bce", "BCE (Bernoulli)"), ("mse", "MSE (Gaussian, σ²=½)"), ("l1", "L1 (Laplace, b=1)"))

    def __init__(self, x: float = 1.0, sigma: float = 0.1) -> None:
        self.x_hat = torch.linspace(0.001, 0.999, 400)
        self.logvar_x = 2 * torch.log(torch.tensor(sigma))
        self.fig = Figure(figsize=(9, 3.8), layout="constrained")
        ax = self.fig.subplots()
        self.lines = {name: ax.plot(self.x_hat, self.x_hat, label=label)[0] for name, label in self.LOSSES}
        self.lines["gaussian"] = ax.plot(self.x_hat, self.x_hat, label=f"Gaussian NLL, σ={sigma:g}")[0]
        self.marker = ax.axvline(x, color="k", linestyle=":", label="true x")
        ax.set_ylim(-2, 8)
        ax.set_xlabel("decoder output x̂")
        ax.set_ylabel("loss for this pixel (nats)")
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
        self.title = ax.set_title(" ", fontsize=10)
        self.dynamic = [*self.lines.values(), self.marker, self.title]
        values = [round(i / 10, 1) for i in range(11)]
        self.slider = _slider(values, x, "true x", "vaecourse-pixel-slider")
        self._wire("vaecourse-pixel-view")

    def redraw(self, x: float) -> None:
        """Recompute each loss of one pixel with true value x over a sweep of x̂ (elementwise)."""
        target = torch.full_like(self.x_hat, x)
        for name, line in self.lines.items():
            nll = elementwise_recon_nll(self.x_hat[None], target[None], name, logvar_x=self.logvar_x)
            line.set_ydata(nll[0].numpy())
        self.marker.set_xdata([x, x])
        bce = self.lines["bce"].get_ydata()
        self.title.set_text(f"true x = {x:g}: each loss is lowest at x̂ ≈ {float(self.x_hat[bce.argmin()]):.2f}; "
                            f"BCE's lowest value is {float(bce.min()):.2f} nats, not 0")
