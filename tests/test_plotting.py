"""Figures from vaecourse.plotting (and plotting_training, which it re-exports): right axes, and the data
drawn is the data given. How they look (sizes, fonts, colours) is tests/test_style.py's."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from vaecourse.losses import elementwise_recon_nll  # noqa: E402
from vaecourse.plotting import (  # noqa: E402
    LOSS_LABEL,
    CourseFigure,
    image_grid,
    image_row,
    loss_curves,
    new_figure,
    pixel_loss_curves,
    reconstruction_error_analysis,
    reconstructions,
    train_vs_val,
)
from vaecourse.plotting_training import _smooth  # noqa: E402 (loss_curves and train_vs_val live there too)
from vaecourse.style import HIGHLIGHT, PALETTE  # noqa: E402
from vaecourse.train import History  # noqa: E402


@pytest.fixture
def x() -> torch.Tensor:
    return torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))  # (N, C, H, W)


def grid(x: torch.Tensor, nrow: int) -> np.ndarray:
    return make_grid(x, nrow=nrow, padding=2, pad_value=1.0)[0].numpy()


def history(steps_per_epoch: int = 3, epochs: int = 2, beta: list[float] | None = None) -> History:
    n = steps_per_epoch * epochs
    recon, kl = [100.0 - i for i in range(n)], [1.0 + i for i in range(n)]
    beta = beta or [1.0] * n
    return History(
        step_total=[r + b * k for r, k, b in zip(recon, kl, beta)], step_recon=recon, step_kl=kl, step_beta=beta,
        epoch_total=[50.0, 40.0], epoch_recon=[45.0, 30.0], epoch_kl=[5.0, 10.0], epoch_beta=[beta[2], beta[-1]],
    )


def test_figures_render_once_as_png_without_pyplot(x):
    fig = image_grid(x)
    assert isinstance(fig, CourseFigure)
    assert plt.get_fignums() == []  # pyplot does not hold it, so notebooks show it only once
    assert fig._repr_png_().startswith(b"\x89PNG")


def test_image_grid_draws_make_grid_of_the_input_without_ticks(x):
    fig = image_grid(x, nrow=4, title="digits")
    (ax,) = fig.axes
    np.testing.assert_allclose(ax.images[0].get_array(), grid(x, nrow=4))
    assert ax.images[0].get_cmap().name == "gray"
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    assert ax.get_title() == "digits"


def test_image_grid_shows_rgb_and_clips_to_unit_interval():
    x = torch.linspace(-1, 2, 2 * 3 * 4 * 4).view(2, 3, 4, 4)
    pixels = image_grid(x).axes[0].images[0].get_array()
    assert pixels.shape == (8, 14, 3)
    assert pixels.min() >= 0 and pixels.max() <= 1


def test_image_grid_redraws_into_a_given_axes(x):
    fig, axes = new_figure()
    ax = axes[0, 0]
    assert image_grid(x, ax=ax) is fig
    image_grid(1 - x, ax=ax)
    assert len(ax.images) == 1
    np.testing.assert_allclose(ax.images[0].get_array(), grid(1 - x, nrow=8))


@pytest.mark.parametrize("shape", [(12, 64), (12, 2, 8, 8), (8, 8)])
def test_image_grid_rejects_non_image_shapes(shape):
    with pytest.raises(ValueError, match="N, C, H, W"):
        image_grid(torch.rand(shape))


def test_image_row_captions_each_image(x):
    ax = image_row(x[:3], ["a", "b", "a + b"]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "a + b"]
    np.testing.assert_allclose(ax.images[0].get_array(), grid(x[:3], nrow=3))
    with pytest.raises(ValueError, match="captions"):
        image_row(x[:3], ["a"])


def test_reconstructions_rows_are_originals_then_reconstructions(x):
    x_hat = 1 - x
    fig = reconstructions(x, x_hat, n=5)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["original", "reconstruction"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), grid(x[:5], nrow=5))
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), grid(x_hat[:5], nrow=5))


def test_reconstructions_takes_one_row_per_loss_and_flat_vectors(x):
    fig = reconstructions(x, {"MSE": x.flatten(1), "BCE": 1 - x, "L1": x / 2}, n=4)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["original", "MSE", "BCE", "L1"]
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), grid(x[:4], nrow=4))
    np.testing.assert_allclose(fig.axes[3].images[0].get_array(), grid(x[:4] / 2, nrow=4))


@pytest.mark.parametrize("bad", [torch.rand(12, 1, 7, 7), torch.rand(3, 1, 8, 8)])
def test_reconstructions_rejects_mismatched_shapes(x, bad):
    with pytest.raises(ValueError, match="x_hat"):
        reconstructions(x, {"MSE": bad}, n=10)


def test_smooth_keeps_constants_and_lines_without_lag():
    np.testing.assert_allclose(_smooth([3.0] * 200), 3.0)
    ramp = np.arange(250.0)  # a window of 5 steps
    np.testing.assert_allclose(_smooth(ramp)[5:-5], ramp[5:-5])  # centred: no delay


def test_loss_curves_draws_epoch_means_mid_epoch_and_ratio():
    h = history()
    fig = loss_curves(h)
    ax, ax_ratio = fig.axes  # constant β: no β axis
    assert ax.get_ylabel() == LOSS_LABEL == "nats per image\n(summed over pixels)"
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert [list(d.get_ydata()) for d in dots] == [h.epoch_total, h.epoch_recon, h.epoch_kl]
    assert list(dots[0].get_xdata()) == [0.5, 1.5]
    ratio_dots = [line for line in ax_ratio.lines if line.get_marker() == "o"]
    np.testing.assert_allclose(ratio_dots[0].get_ydata(), [5 / 45, 10 / 30])
    raw = [line for line in ax.lines if line.get_alpha() == 0.2]
    assert list(raw[1].get_ydata()) == h.step_recon
    np.testing.assert_allclose(raw[1].get_xdata(), np.arange(1, 7) / 3)


def test_loss_curves_accepts_the_dict_and_adds_a_beta_axis_when_beta_varies():
    beta = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    fig = loss_curves(history(beta=beta).as_dict())
    assert len(fig.axes) == 3
    twin = fig.axes[2]
    assert twin.get_ylabel().startswith("β")
    assert list(twin.lines[0].get_ydata()) == beta


def test_loss_curves_compares_runs_one_panel_per_term_one_colour_per_run():
    h = history()
    fig = loss_curves({"a": h, "b": history(beta=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]).as_dict()})
    total, recon, kl, ratio, beta = fig.axes
    assert [ax.get_title() for ax in (total, recon, kl, ratio)] == ["total", "recon", "KL", "KL / recon"]
    for ax in (total, recon, kl):
        assert {to_rgba(line.get_color()) for line in ax.lines} == {to_rgba(PALETTE[0]), to_rgba(PALETTE[1])}
        assert len(ax.lines) == 2 * 3  # runs × (raw, smoothed, epoch dots)
    assert list(kl.lines[2].get_ydata()) == h.epoch_kl  # run a's epoch dots
    assert to_rgba(beta.lines[0].get_color()) == to_rgba(PALETTE[1])  # only run b's β varies
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {"a", "b", "β (right axis)"}


def test_loss_curves_refuses_more_runs_than_colours():
    with pytest.raises(ValueError, match="at most 7 runs"):
        loss_curves({str(i): history() for i in range(8)})


def test_loss_curves_rejects_an_empty_history():
    with pytest.raises(ValueError, match="no epochs"):
        loss_curves(History())


def test_reconstruction_error_analysis_histogram_and_one_box_per_class():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 2, 5], 30)
    errors = rng.random(90) + labels
    fig = reconstruction_error_analysis(torch.tensor(errors), torch.tensor(labels), class_names=list("abcdef"))
    hist_ax, box_ax = fig.axes
    assert sum(p.get_height() for p in hist_ax.patches) == 90
    mean_line = [line for line in hist_ax.lines if line.get_linestyle() == "--"][0]
    assert mean_line.get_xdata()[0] == pytest.approx(errors.mean())
    assert [t.get_text() for t in box_ax.get_xticklabels()] == ["a", "c", "f"]
    medians = [line.get_ydata()[0] for line in box_ax.lines if line.get_color() == HIGHLIGHT]
    np.testing.assert_allclose(medians, [np.median(errors[labels == c]) for c in (0, 2, 5)])


def test_reconstruction_error_analysis_tilts_long_class_names_only():
    """Fashion-MNIST's ten names under ten boxes touched each other when drawn level."""
    from vaecourse.data import DIGIT_CLASSES, FASHION_CLASSES

    labels = np.repeat(np.arange(10), 5)
    errors = np.random.default_rng(0).random(50)
    for names, tilted in ((FASHION_CLASSES, True), (DIGIT_CLASSES, False)):
        box_ax = reconstruction_error_analysis(errors, labels, class_names=names).axes[1]
        assert [t.get_text() for t in box_ax.get_xticklabels()] == list(names)
        assert {t.get_rotation() for t in box_ax.get_xticklabels()} == {30.0 if tilted else 0.0}


def test_reconstruction_error_analysis_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="labels"):
        reconstruction_error_analysis(np.ones(10), np.zeros(9))


def test_pixel_loss_curves_draws_each_curve_and_marks_its_minimum():
    x_hat = torch.linspace(0.01, 0.99, 99)
    target = torch.full_like(x_hat, 0.7)
    curves = {k: (x_hat, elementwise_recon_nll(x_hat, target, k)) for k in ("bce", "mse", "l1")}
    ax = pixel_loss_curves(0.7, curves).axes[0]
    lines = [line for line in ax.lines if line.get_marker() != "o" and line.get_label() in curves]
    np.testing.assert_allclose(lines[0].get_ydata(), curves["bce"][1].numpy())
    minima = [line.get_xdata()[0] for line in ax.lines if line.get_marker() == "o"]
    np.testing.assert_allclose(minima, 0.7, atol=0.006)  # every one of these losses is lowest at x̂ = x
    with pytest.raises(ValueError, match="mse"):
        pixel_loss_curves(0.7, {"mse": (x_hat, x_hat[:5])})


def test_train_vs_val_draws_both_curves_at_their_epochs():
    h = history()
    h.val = [{"neg_elbo": 55.0, "recon": 49.0, "kl": 6.0}, {"neg_elbo": 45.0, "recon": 36.0, "kl": 9.0}]
    fig = train_vs_val(h)
    train, val = fig.axes[0].get_lines()
    np.testing.assert_allclose(train.get_xydata(), [[0.5, 50.0], [1.5, 40.0]])
    np.testing.assert_allclose(val.get_xydata(), [[1.0, 55.0], [2.0, 45.0]])
    assert fig.axes[0].get_ylabel() == LOSS_LABEL
    recon = train_vs_val(h.as_dict(), "recon").axes[0].get_lines()
    np.testing.assert_allclose(recon[1].get_ydata(), [49.0, 36.0])


def test_train_vs_val_says_what_is_missing():
    with pytest.raises(ValueError, match="x_val"):
        train_vs_val(history())
    h = history()
    h.val = [{"neg_elbo": 1.0}] * 2
    with pytest.raises(ValueError, match="val_key"):
        train_vs_val(h, "elbo")
