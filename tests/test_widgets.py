"""Move each slider as a learner would (observers run synchronously) and check the figure changed."""

import io

import numpy as np
import PIL.Image
import pytest
import torch

from vaecourse.widgets import BetaExplorer, InterpolationExplorer, LatentDimExplorer, strip_image


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGB"))


def test_beta_slider_redraws_the_chosen_member(tiny_bank):
    explorer = BetaExplorer(tiny_bank, latent_dim=8, beta=1.0)
    before = explorer.view.value
    assert explorer.slider.description == "β" and "vaecourse-beta-slider" in explorer.slider._dom_classes
    explorer.slider.value = 4.0
    entry = tiny_bank.entry(4.0, 8)
    assert not np.array_equal(_pixels(before), _pixels(explorer.view.value))
    assert np.array_equal(explorer.strip.get_array(), strip_image(tiny_bank, entry))
    assert explorer.rd_marker.get_xdata()[0] == pytest.approx(entry.kl)
    assert [bar.get_height() for bar in explorer.bars] == pytest.approx(entry.kl_per_dim.tolist())
    blue = [bar.get_facecolor() != explorer.bars[0].__class__((0, 0), 1, 1, color="0.75").get_facecolor()
            for bar in explorer.bars]
    assert blue == (entry.kl_per_dim > 0.1).tolist()  # the bars' colour uses the count's definition
    assert f"{int((entry.kl_per_dim > 0.1).sum())} of 8 carry > 0.1 nats" in explorer.kl_title.get_text()
    assert "β = 4" in explorer.title.get_text() and f"{entry.neg_elbo:.1f}" in explorer.title.get_text()


def test_beta_slider_round_trip_is_deterministic(tiny_bank):
    explorer = BetaExplorer(tiny_bank, latent_dim=4, beta=0.5)
    first = explorer.view.value
    explorer.slider.value = 1.0
    explorer.slider.value = 0.5
    assert np.array_equal(_pixels(first), _pixels(explorer.view.value))


def test_beta_slider_offers_exactly_the_bank_grid(tiny_bank):
    explorer = BetaExplorer(tiny_bank, latent_dim=2)
    assert [value for _, value in explorer.slider.options] == list(tiny_bank.betas)


def test_latent_slider_redraws_and_marks_the_size(tiny_bank):
    explorer = LatentDimExplorer(tiny_bank, beta=1.0, latent_dim=2)
    before = explorer.view.value
    explorer.slider.value = 8
    entry = tiny_bank.entry(1.0, 8)
    assert not np.array_equal(_pixels(before), _pixels(explorer.view.value))
    assert list(explorer.marker.get_xdata()) == [8]
    assert explorer.marker.get_ydata()[0] == pytest.approx(entry.recon_nats)
    assert explorer.elbow in tiny_bank.latent_dims
    assert "vaecourse-latent-view" in explorer.view._dom_classes


def test_interpolation_slider_decodes_both_paths():
    calls = []

    def decode(z):
        calls.append(z.clone())
        return torch.sigmoid(z.sum(1, keepdim=True))[:, :, None, None].expand(-1, 1, 28, 28)

    explorer = InterpolationExplorer(decode, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    explorer.slider.value = 0.5
    z_lin, z_sph = calls[-1]
    assert torch.allclose(z_lin, torch.tensor([0.5, 0.5]))
    assert torch.allclose(z_sph.norm(), torch.tensor(1.0), atol=1e-6)  # stays on the circle
    assert explorer.lin_img.get_array()[0, 0] == pytest.approx(torch.sigmoid(torch.tensor(1.0)).item())


def test_pixel_loss_slider_moves_every_curve_and_the_marker():
    from vaecourse.widgets import PixelLossExplorer

    explorer = PixelLossExplorer(x=1.0, sigma=0.1)
    before = {name: line.get_ydata().copy() for name, line in explorer.lines.items()}
    explorer.slider.value = 0.3
    for name, line in explorer.lines.items():
        y = line.get_ydata()
        assert not np.allclose(y, before[name])
        assert explorer.x_hat[y.argmin()].item() == pytest.approx(0.3, abs=0.01)  # lowest at x̂ = x
    assert list(explorer.marker.get_xdata()) == [0.3, 0.3]
    # BCE's floor for a grey pixel is its entropy, H(0.3) = 0.611 nats, not zero
    assert "0.61 nats" in explorer.title.get_text()


def test_projector_mode_enlarges_the_sliders_text_and_leaves_self_paced_widgets_alone(tiny_bank, monkeypatch):
    """ipywidgets has no font size for a slider's label: projector mode adds scoped CSS to each explorer."""
    import ipywidgets

    from vaecourse import widgets as widgets_module

    monkeypatch.delenv("VAECOURSE_PROJECTOR", raising=False)
    plain = BetaExplorer(tiny_bank, latent_dim=2).widget
    assert not any(isinstance(child, ipywidgets.HTML) for child in plain.children)
    assert widgets_module.PROJECTOR_CLASS not in plain._dom_classes
    monkeypatch.setenv("VAECOURSE_PROJECTOR", "1")
    projected = BetaExplorer(tiny_bank, latent_dim=2).widget
    css = [child.value for child in projected.children if isinstance(child, ipywidgets.HTML)]
    assert widgets_module.PROJECTOR_CLASS in projected._dom_classes
    assert css and "font-size: 22px" in css[0] and f".{widgets_module.PROJECTOR_CLASS} .widget-label" in css[0]
