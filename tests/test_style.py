"""Every public figure function against the course style: readable fonts at display size, titles
and labelled axes (with units), bounded size, labelled image grids, few enough lines per panel,
colour-blind-safe colours; and projector mode makes all of it larger.

Each figure is built from small synthetic inputs; `test_every_figure_function_is_checked` fails
when a new figure function is added to the package without a case here.
"""

from __future__ import annotations

import inspect

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_hex, to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from vaecourse import plotting, plotting_latent, plotting_training, style, widgets  # noqa: E402
from vaecourse.data import FASHION_CLASSES  # noqa: E402
from vaecourse.losses import elementwise_recon_nll  # noqa: E402
from vaecourse.train import History  # noqa: E402

ALLOWED = {to_hex(c) for c in (*style.PALETTE, *style.CLASS_COLOURS, style.HIGHLIGHT)}
UNIT_WORDS = ("(", "nats", "number of")  # a y label names its unit: "(nats per image)", "number of images"
IMAGES = torch.rand(48, 1, 28, 28, generator=torch.Generator().manual_seed(0))  # (N, C, H, W)


def _history(beta: list[float] | None = None, val: bool = False) -> History:
    steps = 30
    recon = list(180 - np.arange(steps) * 2.0)
    kl = list(5 + np.arange(steps) * 0.3)
    beta = beta or [1.0] * steps
    h = History(step_total=[r + b * k for r, k, b in zip(recon, kl, beta)], step_recon=recon, step_kl=kl,
                step_beta=beta, epoch_total=[170.0, 150, 135], epoch_recon=[165.0, 142, 125],
                epoch_kl=[5.0, 8, 10], epoch_beta=[beta[5], beta[15], beta[25]])
    if val:
        h.val = [{"neg_elbo": v, "recon": v - 9, "kl": 9.0} for v in (160.0, 146, 138)]
    return h


def _pixel_curves() -> dict:
    x_hat = torch.linspace(0.01, 0.99, 99)
    target = torch.full_like(x_hat, 0.3)
    return {name: (x_hat, elementwise_recon_nll(x_hat, target, name)) for name in ("bce", "mse", "l1")}


def _decode(z: torch.Tensor) -> torch.Tensor:
    """(M, 2) -> (M, 1, 28, 28) images whose brightness follows z."""
    return torch.sigmoid(z.sum(1))[:, None, None, None].expand(-1, 1, 28, 28)


def _latents(n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.arange(n) % 10
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(1)) + labels[:, None], labels


# name -> (build(bank) -> Figure or explorer, an image grid whose rows or columns must be labelled)
CASES = {
    "image_grid": (lambda bank: plotting.image_grid(IMAGES[:24], nrow=8, title="three kinds",
                                                    row_labels=["a", "b", "c"]), True),
    "image_row": (lambda bank: plotting.image_row(
        IMAGES[:5], ["weights", "target", "blot centre", "blot corner", "shifted 3 px"], title="five"), True),
    "reconstructions": (lambda bank: plotting.reconstructions(IMAGES, {"MSE": IMAGES[10:20], "BCE": IMAGES[20:30]}),
                        True),
    "loss_curves": (lambda bank: plotting.loss_curves(_history(beta=list(np.linspace(0, 1, 30)))), False),
    "loss_curves (4 runs)": (lambda bank: plotting.loss_curves(
        {name: _history(beta=list(np.linspace(0, 1, 30)) if name == "linear" else None)
         for name in ("plain", "linear", "cyclical", "free bits")}), False),
    "reconstruction_error_analysis": (lambda bank: plotting.reconstruction_error_analysis(
        torch.rand(200), torch.arange(200) % 10, FASHION_CLASSES), False),
    "pixel_loss_curves": (lambda bank: plotting.pixel_loss_curves(0.3, _pixel_curves()), False),
    "train_vs_val": (lambda bank: plotting.train_vs_val(_history(val=True)), False),
    "latent_scatter": (lambda bank: plotting_latent.latent_scatter(*_latents(), class_names=FASHION_CLASSES), False),
    "latent_manifold": (lambda bank: plotting_latent.latent_manifold(_decode, n=16), True),
    "interpolation_strip": (lambda bank: plotting_latent.interpolation_strip(IMAGES[:10]), True),
    "latent_traversal": (lambda bank: plotting_latent.latent_traversal(IMAGES[:16 * 3].repeat(3, 1, 1, 1),
                                                                       torch.linspace(-3, 3, 9), 16), True),
    "rate_distortion": (lambda bank: plotting_latent.rate_distortion(
        {0.5: (30.0, 95.0), 1.0: (20.0, 104.0), 4.0: (7.0, 133.0)}, highlight=1.0), False),
    "kl_per_dim_bar": (lambda bank: plotting_latent.kl_per_dim_bar(torch.rand(64)), False),
    "error_vs_latent_dim": (lambda bank: plotting_latent.error_vs_latent_dim([2, 4, 8, 16, 32],
                                                                              [0.05, 0.03, 0.02, 0.015, 0.014], 8), False),
    "BetaExplorer": (lambda bank: widgets.BetaExplorer(bank, latent_dim=8), True),
    "LatentDimExplorer": (lambda bank: widgets.LatentDimExplorer(bank, beta=1.0), True),
    "InterpolationExplorer": (lambda bank: widgets.InterpolationExplorer(_decode, torch.zeros(2), torch.ones(2)),
                              False),
    "PixelLossExplorer": (lambda bank: widgets.PixelLossExplorer(x=0.3), False),
}


def _figure(name: str, bank) -> Figure:
    made = CASES[name][0](bank)
    fig = made.fig if isinstance(made, widgets._Explorer) else made
    with style.context(fig.course_style):
        fig.draw_without_rendering()  # tick labels exist once drawn
    return fig


def _texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _plain_axes(fig: Figure) -> list:
    """Axes that draw data (not colour bars, not the twin β axes of loss_curves)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and not ax.get_ylabel().startswith("β")]


def _drawn_tick_labels(axis) -> list[Text]:
    """The tick labels matplotlib draws: visible, not empty, inside the view limits."""
    lo, hi = sorted(axis.get_view_interval())
    slack = 1e-9 * max(1.0, abs(hi - lo))
    return [tick.label1 for tick, loc in zip(axis.get_major_ticks(), axis.get_majorticklocs())
            if lo - slack <= loc <= hi + slack and tick.label1.get_visible() and tick.label1.get_text()]


def _series(ax) -> set:
    """Lines a viewer must tell apart: (colour, style); marker-only lines count if their colour is new."""
    drawn, markers = set(), set()
    for line in ax.lines:
        if not line.get_visible() or len(line.get_xdata()) == 0 or (line.get_alpha() or 1.0) < 0.5:
            continue
        colour, ls = to_hex(line.get_color()), line.get_linestyle()
        (markers if ls in ("None", "", " ") else drawn).add((colour, ls))
    colours = {c for c, _ in drawn}
    return drawn | {m for m in markers if m[0] not in colours}


def _colours(ax) -> list[tuple]:
    out = []
    for line in ax.lines:
        if line.get_linestyle() in ("None", "", " "):
            out += [c for c in (line.get_markerfacecolor(), line.get_markeredgecolor()) if str(c) != "none"]
        else:
            out.append(line.get_color())
    out += [p.get_facecolor() for p in ax.patches if p.get_facecolor()[3] > 0]
    for collection in ax.collections:
        out += list(collection.get_facecolors())
    return out


def _safe(colour) -> bool:
    r, g, b, _ = to_rgba(colour)
    return to_hex(colour) in ALLOWED or (abs(r - g) < 0.01 and abs(g - b) < 0.01)  # or a grey


def problems(fig: Figure, s: style.FigureStyle, labelled_grid: bool) -> list[str]:
    """What in fig breaks the course style s (empty: nothing)."""
    found = []
    width, height = fig.get_size_inches()
    if width > s.max_size[0] + 0.01 or height > s.max_size[1] + 0.01:
        found.append(f"size {width:.1f} × {height:.1f} in exceeds {s.max_size}")
    small = [t.get_text() for t in _texts(fig) if t.get_fontsize() * fig.dpi / 72 < s.min_font_px - 0.01]
    if small:
        found.append(f"text below {s.min_font_px:.1f} px on screen: {small[:3]}")
    renderer = fig._get_renderer()
    ticks = [_drawn_tick_labels(axis) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)]
    tick_texts = {id(label) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
                  for tick in [*axis.majorTicks, *axis.minorTicks] for label in (tick.label1, tick.label2)}
    drawn = [t for t in _texts(fig) if id(t) not in tick_texts] + [t for labels in ticks for t in labels]
    edge = fig.bbox.padded(1)
    outside = [t.get_text() for t in drawn if not (edge.contains(*t.get_window_extent(renderer).p0)
                                                    and edge.contains(*t.get_window_extent(renderer).p1))]
    if outside:
        found.append(f"text cut off at the figure's edge: {outside[:3]}")
    for labels in ticks:
        boxes = [t.get_window_extent(renderer) for t in labels if t.get_rotation() == 0]  # tilted ones are apart
        if any(a.overlaps(b) for j, a in enumerate(boxes) for b in boxes[j + 1:]):
            found.append(f"tick labels overlap: {[t.get_text() for t in labels][:5]}")
    has_suptitle = fig._suptitle is not None and fig._suptitle.get_text().strip()
    for i, ax in enumerate(_plain_axes(fig)):
        titled = any(ax.get_title(loc=loc).strip() for loc in ("left", "center", "right"))
        if not (titled or has_suptitle):
            found.append(f"axes {i} has no title")
        if ax.images:
            ticks = [t.get_text() for t in (*ax.get_xticklabels(), *ax.get_yticklabels()) if t.get_text()]
            if labelled_grid and not (ticks or ax.get_title(loc="left")):
                found.append(f"image axes {i}: rows and columns are not labelled")
            continue
        xlabel = " ".join(a.get_xlabel() for a in ax.get_shared_x_axes().get_siblings(ax))  # stacked panels share one
        if not xlabel.strip() or not ax.get_ylabel().strip():
            found.append(f"axes {i} lacks an axis label: x {ax.get_xlabel()!r}, y {ax.get_ylabel()!r}")
        elif ax.collections == [] and not any(w in ax.get_ylabel() for w in UNIT_WORDS):
            found.append(f"axes {i}: y label {ax.get_ylabel()!r} names no unit")
        if len(_series(ax)) > style.MAX_SERIES:
            found.append(f"axes {i} has {len(_series(ax))} lines (at most {style.MAX_SERIES} can be told apart)")
        unsafe = sorted({to_hex(c) for c in _colours(ax) if not _safe(c)})
        if unsafe:
            found.append(f"axes {i}: colours outside the colour-blind-safe palette: {unsafe}")
    return found


@pytest.fixture
def projector():
    style.projector_mode(True)
    yield
    style.projector_mode(False)
    style._projector = None


@pytest.mark.parametrize("name", CASES)
def test_figure_follows_the_course_style(name, tiny_bank):
    fig = _figure(name, tiny_bank)
    assert fig.course_style is style.NOTEBOOK and fig.dpi == style.NOTEBOOK.dpi
    assert problems(fig, style.NOTEBOOK, CASES[name][1]) == []


@pytest.mark.parametrize("name", CASES)
def test_projector_mode_enlarges_the_figure(name, tiny_bank, projector):
    normal_fig = None
    style.projector_mode(False)
    normal_fig = _figure(name, tiny_bank)
    style.projector_mode(True)
    fig = _figure(name, tiny_bank)
    assert fig.course_style is style.PROJECTOR
    assert problems(fig, style.PROJECTOR, CASES[name][1]) == []
    smallest = min(t.get_fontsize() * fig.dpi / 72 for t in _texts(fig))
    assert smallest >= 1.5 * min(t.get_fontsize() * normal_fig.dpi / 72 for t in _texts(normal_fig))
    assert fig.get_size_inches()[0] * fig.dpi > normal_fig.get_size_inches()[0] * normal_fig.dpi  # pixels


def test_projector_mode_thickens_lines_and_widens_sliders(tiny_bank, projector):
    thick = max(line.get_linewidth() for line in _figure("train_vs_val", None).axes[0].lines)
    slider = widgets.BetaExplorer(tiny_bank, latent_dim=2).slider
    style.projector_mode(False)
    thin = max(line.get_linewidth() for line in _figure("train_vs_val", None).axes[0].lines)
    assert thick >= 1.5 * thin
    assert int(slider.layout.width[:-2]) > int(widgets.BetaExplorer(tiny_bank, latent_dim=2).slider.layout.width[:-2])


def test_projector_mode_is_off_by_default_and_read_from_the_environment(monkeypatch):
    monkeypatch.setattr(style, "_projector", None)
    monkeypatch.delenv("VAECOURSE_PROJECTOR", raising=False)
    assert not style.projector_enabled() and style.current() is style.NOTEBOOK
    monkeypatch.setenv("VAECOURSE_PROJECTOR", "1")
    assert style.projector_enabled() and style.current() is style.PROJECTOR
    style.projector_mode(False)  # an explicit call wins over the environment
    assert not style.projector_enabled()


def test_projector_mode_sets_and_restores_matplotlibs_own_settings(monkeypatch):
    monkeypatch.setattr(style, "_projector", None)
    before = matplotlib.rcParams["legend.fontsize"]
    style.projector_mode()
    assert matplotlib.rcParams["legend.fontsize"] == style.PROJECTOR.small_font_size  # a notebook's own legends
    style.projector_mode(False)
    assert matplotlib.rcParams["legend.fontsize"] == before


def test_new_figure_keeps_sizes_within_bounds():
    fig, _ = style.new_figure(figsize=(20.0, 3.0))
    assert tuple(fig.get_size_inches()) == (style.NOTEBOOK.max_size[0], 3.0)


def test_palettes_are_the_published_colour_blind_safe_ones():
    sequences = matplotlib.color_sequences
    if "okabe_ito" in sequences:  # matplotlib >= 3.10
        assert {to_hex(c) for c in style.PALETTE} <= {to_hex(c) for c in sequences["okabe_ito"]}
        assert [to_hex(c) for c in style.CLASS_COLOURS] == [to_hex(c) for c in sequences["petroff10"]]
    assert len(set(style.PALETTE)) == len(style.PALETTE) >= 7 and len(set(style.CLASS_COLOURS)) == 10


def test_the_checks_catch_what_they_check():
    """The style check fails on a figure with tiny text, no labels, ten lines and tab10 colours."""
    fig = Figure(figsize=(12, 4), dpi=80)
    ax = fig.subplots()
    for i in range(10):
        ax.plot([0, 1], [i, i + 1], color=f"C{i}")
    ax.set_title("t", fontsize=8)
    fig.draw_without_rendering()
    found = " | ".join(problems(fig, style.NOTEBOOK, False))
    for expected in ("exceeds", "below", "axis label", "10 lines", "colour-blind"):
        assert expected in found


def test_every_figure_function_is_checked():
    public = {name for module in (plotting, plotting_latent, plotting_training)
              for name, f in inspect.getmembers(module, inspect.isfunction)
              if f.__module__ == module.__name__ and not name.startswith("_")
              and inspect.signature(f).return_annotation in (Figure, "Figure")}
    explorers = {name for name, c in inspect.getmembers(widgets, inspect.isclass)
                 if issubclass(c, widgets._Explorer) and c is not widgets._Explorer}
    assert public | explorers == {name.split(" ")[0] for name in CASES}
