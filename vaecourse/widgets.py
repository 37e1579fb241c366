"""Sliders that answer at once: ipywidgets around figures drawn by `vaecourse.plotting`.

Each explorer draws its figure once with the plotting functions (`image_grid`,
`plotting_latent.draw_rate_distortion`, `draw_kl_bars`, `draw_error_curve`,
`plotting.draw_pixel_losses`), then updates the returned artists in place; `redraw` is a plain
function of the slider value (no training, no model calls for the bank sliders), and the result
is shown as PNG bytes in an `ipywidgets.Image`. Sizes and fonts follow `vaecourse.style`
(projector mode included). Works with ipywidgets 7.7 and 8.
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

from vaecourse import style
from vaecourse.analysis import find_elbow, lerp, slerp
from vaecourse.bank import INFORMATIVE_NATS, BankEntry, ModelBank
from vaecourse.losses import elementwise_recon_nll
from vaecourse.plotting import draw_pixel_losses, grid_pixels, image_grid, update_pixel_losses
from vaecourse.plotting_latent import (
    decode_on_its_device,
    draw_error_curve,
    draw_kl_bars,
    draw_rate_distortion,
    kl_title,
    mark,
    update_kl_bars,
)


PROJECTOR_CLASS = "vaecourse-projector"
# ipywidgets has no font-size setting for a slider's label and value: in projector mode a style
# element (scoped to our explorers) makes them readable at the back of a lecture hall.
PROJECTOR_CSS = (f"<style>.{PROJECTOR_CLASS} .widget-label, .{PROJECTOR_CLASS} .widget-readout, "
                 f".{PROJECTOR_CLASS} .widget-label-basic {{font-size: 22px; line-height: 30px;}}</style>")


def _projector_css() -> list[widgets.HTML]:
    """[an HTML widget with the projector CSS] in projector mode, else []."""
    return [widgets.HTML(PROJECTOR_CSS)] if style.projector_enabled() else []


def _slider(options: list, value, description: str, css_class: str) -> widgets.SelectionSlider:
    slider = widgets.SelectionSlider(
        options=[(f"{v:g}", v) for v in options], value=value, description=description,
        continuous_update=True, layout=widgets.Layout(width=style.current().slider_width),
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

    def _wire(self, view_class: str) -> None:
        self.canvas = FigureCanvasAgg(self.fig)
        self.redraw(self.slider.value)  # the layout leaves room for the real titles
        for artist in self.dynamic:
            artist.set_animated(True)
        with style.context(self.fig.course_style):
            self.canvas.draw()  # lays out once, without the dynamic artists
        self.fig.set_layout_engine("none")
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.view = widgets.Image(format="png")
        self.view.add_class(view_class)
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.widget = widgets.VBox([*_projector_css(), self.slider, self.view])
        if style.projector_enabled():
            self.widget.add_class(PROJECTOR_CLASS)
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


def _strip_tiles(bank: ModelBank, entry: BankEntry) -> Tensor:
    """(3·n_show, C, H, W): the bank's test images, their reconstructions, prior samples."""
    return torch.cat([bank.x_show, entry.recon, entry.samples])


def strip_image(bank: ModelBank, entry: BankEntry) -> np.ndarray:
    """Rows: the bank's test images, their reconstructions, prior samples; cached per member."""
    key = (entry.beta, entry.latent_dim)
    if key not in bank.strips:
        bank.strips[key] = grid_pixels(_strip_tiles(bank, entry), len(bank.x_show))
    return bank.strips[key]


def _draw_strip(ax, bank: ModelBank, entry: BankEntry):
    """The image strip of one member drawn by plotting.image_grid, rows named; returns its AxesImage."""
    image_grid(_strip_tiles(bank, entry), nrow=len(bank.x_show), ax=ax, row_labels=ROW_NAMES)
    return ax.images[0]


class BetaExplorer(_Explorer):
    """β slider: reconstructions, prior samples, rate–distortion point and KL per dimension."""

    @style.styled
    def __init__(self, bank: ModelBank, latent_dim: int = 16, beta: float = 1.0) -> None:
        self.bank, self.latent_dim = bank, latent_dim
        self.points = [bank.entry(b, latent_dim) for b in bank.betas]
        self.fig, axes = style.new_mosaic([["img", "img"], ["rd", "kl"]], figsize=(9, 6.6), height_ratios=[1, 1.2])
        self.strip = _draw_strip(axes["img"], bank, bank.entry(beta, latent_dim))
        self.rd_marker = draw_rate_distortion(axes["rd"], {p.beta: (p.kl, p.recon_nats) for p in self.points},
                                              highlight=beta, highlight_label="slider's β")
        axes["rd"].set_title(f"rate–distortion, test set\n(latent dim {latent_dim})")
        self.bars = draw_kl_bars(axes["kl"], latent_dim, INFORMATIVE_NATS)
        top = max(float(p.kl_per_dim.max()) for p in self.points)
        axes["kl"].set_ylim(0, 1.1 * top)  # the same scale for every β, so bars compare across β
        self.kl_title = axes["kl"].set_title(" ")
        self.title = self.fig.suptitle(" ")
        self.dynamic = [self.strip, self.rd_marker, *self.bars, self.kl_title, self.title]
        self.slider = _slider(list(bank.betas), beta, "β", "vaecourse-beta-slider")
        self._wire("vaecourse-beta-view")

    def redraw(self, beta: float) -> None:
        """Show the bank member (beta, latent_dim); draws only, no model calls."""
        e = self.bank.entry(beta, self.latent_dim)
        self.strip.set_data(strip_image(self.bank, e))
        self.rd_marker.set_data([e.kl], [e.recon_nats])
        update_kl_bars(self.bars, e.kl_per_dim.tolist(), INFORMATIVE_NATS)
        self.kl_title.set_text(kl_title(e.kl_per_dim, INFORMATIVE_NATS))
        self.title.set_text(f"β = {beta:g}:  −ELBO {e.neg_elbo:.1f} = recon {e.recon_nats:.1f} + KL {e.kl:.1f}\n"
                            "nats per test image (summed over pixels)")


class LatentDimExplorer(_Explorer):
    """Latent-size slider: reconstructions at that size and error vs dimension with its elbow."""

    @style.styled
    def __init__(self, bank: ModelBank, beta: float = 1.0, latent_dim: int = 2) -> None:
        self.bank, self.beta = bank, beta
        self.points = [bank.entry(beta, d) for d in bank.latent_dims]
        errors = [p.recon_nats for p in self.points]
        self.elbow = find_elbow(list(bank.latent_dims), errors)
        self.fig, axes = style.new_figure(2, 1, figsize=(9, 6.6), height_ratios=[1, 1.2])
        ax_img, ax_curve = axes[:, 0]
        self.strip = _draw_strip(ax_img, bank, bank.entry(beta, latent_dim))
        draw_error_curve(ax_curve, list(bank.latent_dims), errors, self.elbow, ylabel="test recon (nats per image)")
        self.marker = mark(ax_curve, latent_dim, errors[list(bank.latent_dims).index(latent_dim)],
                           label="the slider's size", filled=True)
        ax_curve.set_title(f"test reconstruction error (BCE) vs latent size, β = {beta:g}")
        ax_curve.legend()
        self.title = self.fig.suptitle(" ")
        self.dynamic = [self.strip, self.marker, self.title]
        self.slider = _slider(list(bank.latent_dims), latent_dim, "latent dim", "vaecourse-latent-slider")
        self._wire("vaecourse-latent-view")

    def redraw(self, latent_dim: int) -> None:
        """Show the bank member (beta, latent_dim); draws only, no model calls."""
        e = self.bank.entry(self.beta, latent_dim)
        self.strip.set_data(strip_image(self.bank, e))
        self.marker.set_data([latent_dim], [e.recon_nats])
        self.title.set_text(f"latent dim {latent_dim}:  recon {e.recon_nats:.1f} nats per test image (summed over "
                            f"pixels)\n{int(e.informative.sum())} of {latent_dim} dims carry > {INFORMATIVE_NATS:g} nats")


class InterpolationExplorer(_Explorer):
    """α slider between two latent codes: linear and spherical paths decoded side by side."""

    @style.styled
    def __init__(self, decode, z0: Tensor, z1: Tensor, steps: int = 11, image_shape=(28, 28)) -> None:
        self.decode, self.z0, self.z1 = decode, z0.detach().cpu(), z1.detach().cpu()
        self.fig, axes = style.new_figure(1, 2, figsize=(5.5, 3.4))
        blank = torch.zeros(1, 1, *image_shape)
        for ax, title in zip(axes[0], ("linear (lerp)", "spherical (slerp)")):
            image_grid(blank, ax=ax, title=title, padding=0)
        self.lin_img, self.sph_img = (ax.images[0] for ax in axes[0])
        self.title = self.fig.suptitle(" ")
        self.dynamic = [self.lin_img, self.sph_img, self.title]
        alphas = [round(i / (steps - 1), 3) for i in range(steps)]
        self.slider = _slider(alphas, alphas[0], "α", "vaecourse-alpha-slider")
        self._wire("vaecourse-alpha-view")

    def redraw(self, alpha: float) -> None:
        """Decode the two interpolants at α (one small decoder call, on the decoder's device)."""
        a = torch.tensor([alpha])
        z = torch.cat([lerp(self.z0, self.z1, a), slerp(self.z0, self.z1, a)])
        images = decode_on_its_device(self.decode, z).clamp(0, 1)  # (2, C, H, W) on the CPU
        self.lin_img.set_data(grid_pixels(images[:1], nrow=1, padding=0))
        self.sph_img.set_data(grid_pixels(images[1:], nrow=1, padding=0))
        self.title.set_text(f"α = {alpha:g}: z = path(z₀, z₁, α)")


class PixelLossExplorer(_Explorer):
    """Slide the true pixel value x; see how BCE, MSE, L1 and a Gaussian NLL score each x̂."""

    LOSSES = (("bce", "BCE (Bernoulli)"), ("mse", "MSE (Gaussian, σ²=½)"), ("l1", "L1 (Laplace, b=1)"))

    @style.styled
    def __init__(self, x: float = 1.0, sigma: float = 0.1) -> None:
        self.x_hat = torch.linspace(0.001, 0.999, 400)
        self.logvar_x = 2 * torch.log(torch.tensor(sigma))
        self.names = {**dict(self.LOSSES), "gaussian": f"Gaussian NLL, σ={sigma:g}"}
        self.fig, axes = style.new_figure(figsize=(9, 4.2))
        ax = axes[0, 0]
        self.artists = draw_pixel_losses(ax, x, self._curves(x))
        self.lines = {name: self.artists.lines[label] for name, label in self.names.items()}
        self.marker = self.artists.target
        ax.set_ylim(-2, 8)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
        self.title = ax.set_title(" ")
        self.dynamic = [*self.artists.lines.values(), *self.artists.minima.values(), self.marker, self.title]
        values = [round(i / 10, 1) for i in range(11)]
        self.slider = _slider(values, x, "true x", "vaecourse-pixel-slider")
        self._wire("vaecourse-pixel-view")

    def _curves(self, x: float) -> dict:
        """{legend label: (x̂ (K,), loss (K,) in nats)} for one pixel whose true value is x."""
        target = torch.full_like(self.x_hat, x)
        return {label: (self.x_hat, elementwise_recon_nll(self.x_hat[None], target[None], name,
                                                          logvar_x=self.logvar_x)[0])
                for name, label in self.names.items()}

    def redraw(self, x: float) -> None:
        """Recompute each loss of one pixel with true value x over a sweep of x̂ (elementwise)."""
        update_pixel_losses(self.artists, x, self._curves(x))
        bce = self.lines["bce"].get_ydata()
        self.title.set_text(f"true x = {x:g}: each loss is lowest at x̂ ≈ {float(self.x_hat[bce.argmin()]):.2f}\n"
                            f"BCE's lowest value is {float(bce.min()):.2f} nats, not 0")
