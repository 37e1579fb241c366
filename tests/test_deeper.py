"""Tests for vaecourse.deeper: masked convolutions, the PixelCNN VAE, its trainer, I(x; z), a floored σ."""

from __future__ import annotations

import math

import pytest
import torch

from fake_accelerator import OnAccelerator, pretend_accelerator
from vaecourse.config import BetaSchedule, LossConfig, TrainConfig
from vaecourse.deeper import (
    FlooredGaussianVAE,
    MaskedConv2d,
    PixelVAE,
    evaluate_pixel_vae,
    fit_pixel_vae,
    mutual_information,
)
from vaecourse.models import is_vae
from vaecourse.train import evaluate, fit

SHAPE = (1, 6, 6)


def _binary(n: int = 64, seed: int = 0) -> torch.Tensor:
    """n binary images (n, 1, 6, 6) with structure: a bright vertical bar at a random column."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, *SHAPE)
    cols = torch.randint(0, 6, (n,), generator=gen)
    x[torch.arange(n), 0, :, cols] = 1.0
    return x


def _dependence(fn, x: torch.Tensor) -> torch.Tensor:
    """(H·W, H·W) bool: entry [i, j] is True when output pixel i depends on input pixel j (autograd)."""
    x = x.clone().requires_grad_(True)
    out = fn(x).flatten()
    rows = [torch.autograd.grad(out[i], x, retain_graph=True, allow_unused=True)[0] for i in range(out.numel())]
    return torch.stack([(r if r is not None else torch.zeros_like(x)).flatten() != 0 for r in rows])


@pytest.mark.parametrize("mask", ["A", "B"])
def test_masked_convolution_sees_only_earlier_pixels(mask):
    torch.manual_seed(0)
    conv = MaskedConv2d(mask, 1, 1, 5)
    dep = _dependence(conv, torch.randn(1, *SHAPE))
    later = torch.ones(36, 36, dtype=torch.bool).triu(diagonal=1)  # j > i
    assert not (dep & later).any()
    assert bool(dep.diagonal().all()) == (mask == "B")  # B sees its own pixel, A never does
    assert dep[20, 19] and dep[20, 14]  # the pixel to the left and the one above are seen


def test_masked_convolution_rejects_an_unknown_mask():
    with pytest.raises(ValueError, match="'A' or 'B'"):
        MaskedConv2d("C", 1, 1, 3)


def test_pixel_vae_is_autoregressive_and_the_mlp_decoder_ignores_x():
    torch.manual_seed(0)
    z = torch.randn(1, 3)
    strong = PixelVAE(SHAPE, latent_dim=3, channels=4, layers=3, kernel_size=3, hidden=16)
    dep = _dependence(lambda x: strong.logits(z, x), torch.rand(1, *SHAPE))
    assert not (dep & torch.ones(36, 36, dtype=torch.bool).triu()).any()  # never itself or a later pixel
    assert dep[35].sum() > 5  # the last pixel sees many earlier ones
    weak = PixelVAE(SHAPE, latent_dim=3, layers=0, hidden=16)
    assert not _dependence(lambda x: weak.logits(z, x), torch.rand(1, *SHAPE)).any()


def test_pixel_vae_samples_are_binary_images_on_the_cpu():
    torch.manual_seed(0)
    for layers in (0, 2):
        sample = PixelVAE(SHAPE, latent_dim=3, channels=4, layers=layers, hidden=16).sample(torch.randn(5, 3))
        assert sample.shape == (5, *SHAPE) and sample.device.type == "cpu"
        assert set(sample.unique().tolist()) <= {0.0, 1.0}


def test_fit_pixel_vae_lowers_the_loss_and_evaluation_adds_up():
    x = _binary(256)
    torch.manual_seed(0)
    model = PixelVAE(SHAPE, latent_dim=3, channels=8, layers=2, kernel_size=3, hidden=32)
    before = evaluate_pixel_vae(model, x)
    trace = fit_pixel_vae(model, x, epochs=4, batch_size=32, lr=3e-3)
    after = evaluate_pixel_vae(model, x)
    assert len(trace) == 4 * 8 and not model.training
    assert after["neg_elbo"] < before["neg_elbo"] - 3
    assert after["neg_elbo"] == pytest.approx(after["recon"] + after["kl"], rel=1e-6)
    assert sum(after["kl_per_dim"]) == pytest.approx(after["kl"], rel=1e-5)
    assert 0 <= after["active_units"] <= 3 and isinstance(after["mutual_information"], float)


def test_free_bits_above_every_dimension_remove_the_kl_gradient():
    # λ larger than any dimension's KL: the charged KL is a constant, so training equals training at β = 0.
    x = _binary(128)
    params = {}
    for name, beta, free_bits in (("free bits", 1.0, 100.0), ("β = 0", 0.0, 0.0), ("β = 1", 1.0, 0.0)):
        torch.manual_seed(0)
        model = PixelVAE(SHAPE, latent_dim=3, channels=4, layers=2, kernel_size=3, hidden=16)
        fit_pixel_vae(model, x, epochs=1, batch_size=32, free_bits=free_bits, beta=BetaSchedule(beta_max=beta))
        params[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.allclose(params["free bits"], params["β = 0"], atol=1e-6)
    assert not torch.allclose(params["free bits"], params["β = 1"], atol=1e-4)


def test_mutual_information_matches_a_gaussian_oracle():
    # x ~ N(0, 1), q(z|x) = N(a·x, s²): I(x; z) = ½ log(1 + a²/s²) nats.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 1, generator=gen)
    a, s = 2.0, 1.0
    estimate = mutual_information(a * x, torch.full_like(x, math.log(s**2)), n_samples=2)
    assert estimate == pytest.approx(0.5 * math.log(1 + a**2 / s**2), abs=0.05)


def test_mutual_information_is_zero_when_every_posterior_is_the_prior_and_at_most_log_n():
    zeros = torch.zeros(200, 4)
    assert mutual_information(zeros, zeros) == pytest.approx(0.0, abs=1e-9)
    far_apart = torch.arange(200.0)[:, None] * 100.0 * torch.ones(1, 4)  # every image identifiable
    assert mutual_information(far_apart, torch.zeros(200, 4)) == pytest.approx(math.log(200), abs=1e-6)


def test_floored_gaussian_vae_never_lets_sigma_fall_below_the_floor():
    model = FlooredGaussianVAE(SHAPE, latent_dim=2, hidden_dims=(16,), min_sigma=0.1)
    assert is_vae(model) and "free_logvar_x" in dict(model.named_parameters())
    with torch.no_grad():
        model.free_logvar_x.fill_(-20.0)
    assert torch.allclose(model.logvar_x, torch.full(SHAPE, 2 * math.log(0.1)))
    x = torch.zeros(64, *SHAPE)  # every pixel constant: an unfloored σ would run away
    fit(model, x, TrainConfig(epochs=2, batch_size=16, lr=0.05, seed=0, num_threads=1),
        LossConfig(recon_loss_type="gaussian"), progress=False)
    assert model.logvar_x.min() >= 2 * math.log(0.1) - 1e-6
    assert math.isfinite(evaluate(model, x, LossConfig(recon_loss_type="gaussian"))["neg_elbo"])


def test_floored_gaussian_vae_rejects_a_floor_that_is_not_positive():
    with pytest.raises(ValueError, match="min_sigma"):
        FlooredGaussianVAE(SHAPE, 2, (16,), min_sigma=0.0)


def test_pixel_vae_trains_on_the_accelerator_and_hands_back_cpu_numbers():
    x = _binary(64)
    torch.manual_seed(0)
    model = PixelVAE(SHAPE, latent_dim=3, channels=4, layers=2, kernel_size=3, hidden=16)
    with pretend_accelerator():
        fit_pixel_vae(model, x, epochs=1, batch_size=32)
        assert next(model.parameters()).device.type == "cpu"
        model.to("meta")  # a learner's model on the accelerator: evaluation and sampling still work
        result = evaluate_pixel_vae(model, x)
        sample = model.sample(torch.randn(2, 3))
    assert isinstance(result["neg_elbo"], float) and math.isfinite(result["neg_elbo"])
    assert sample.device.type == "cpu" and not isinstance(sample, OnAccelerator)
