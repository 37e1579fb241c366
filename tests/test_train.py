"""vaecourse.train on sklearn's 8x8 digits (no download): learning, history, evaluation, IWAE."""

from __future__ import annotations

import dataclasses
import io
import math

import pytest
import torch
from sklearn.datasets import load_digits
from torch import Tensor

from vaecourse.config import BetaSchedule, LossConfig, TrainConfig
from vaecourse.losses import kl_divergence, vae_reconstruction_loss
from vaecourse.models import VAE, Autoencoder, ConvVAE, GaussianVAE
from vaecourse import runtime
from vaecourse.train import evaluate, fit, importance_weighted_nll

DIGITS = (1, 8, 8)
LATENT = 4
FAST = TrainConfig(epochs=3, batch_size=100, lr=3e-3, seed=0, device="cpu", num_threads=1)


@pytest.fixture(scope="module")
def digits() -> Tensor:
    """All 1797 digits as (N, 1, 8, 8) float32 in [0, 1]."""
    images = torch.tensor(load_digits().images, dtype=torch.float32)
    return (images / 16.0).unsqueeze(1)


@pytest.fixture(scope="module")
def binary_digits(digits: Tensor) -> Tensor:
    return (digits > 0.5).float()


def _vae(latent_dim: int = LATENT, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(DIGITS, latent_dim, (64,))


@pytest.fixture(scope="module")
def trained_vae(binary_digits: Tensor) -> VAE:
    """A Bernoulli VAE trained on 1000 binarised digits (10 epochs, well under a second)."""
    model = _vae()
    fit(model, binary_digits[:1000], dataclasses.replace(FAST, epochs=10), progress=False)
    return model


def _without_timings(history) -> dict:
    record = history.as_dict()
    del record["epoch_seconds"]
    return record


# --- fit ----------------------------------------------------------------------------------------

def test_fit_lowers_the_loss_clearly(binary_digits):
    model, x_train, x_test = _vae(), binary_digits[:1000], binary_digits[1000:1300]
    before = evaluate(model, x_test)["neg_elbo"]
    history = fit(model, x_train, dataclasses.replace(FAST, epochs=5), progress=False)
    after = evaluate(model, x_test)["neg_elbo"]
    assert all(math.isfinite(v) for v in history.step_total)
    assert history.epoch_total[-1] < 0.8 * history.epoch_total[0]  # ≈ 41 -> 26 nats
    assert after < before - 10.0  # held-out negative ELBO, ≈ 45 -> 27 nats
    assert not model.training  # fit hands back a model ready for evaluation


def test_history_lengths_and_a_linear_beta_schedule(digits):
    n, batch, epochs, warmup = 1000, 128, 3, 10
    steps = math.ceil(n / batch)  # 8, the last batch is smaller
    loss = LossConfig(beta=BetaSchedule("linear", beta_max=1.0, warmup_steps=warmup))
    config = dataclasses.replace(FAST, epochs=epochs, batch_size=batch)
    history = fit(_vae(), digits[:n], config, loss, x_val=digits[n:n + 100], progress=False)

    for name in ("step_total", "step_recon", "step_kl", "step_beta"):
        assert len(getattr(history, name)) == epochs * steps, name
    per_epoch = ("epoch_total", "epoch_recon", "epoch_kl", "epoch_beta", "epoch_kl_per_dim", "epoch_seconds")
    for name in (*per_epoch, "val"):
        assert len(getattr(history, name)) == epochs, name
    assert all(len(kl_dims) == LATENT for kl_dims in history.epoch_kl_per_dim)
    assert history.n_train == n and history.images_per_second > 0
    assert {"neg_elbo", "recon", "kl", "kl_per_dim", "active_units"} <= set(history.val[-1])

    assert history.step_beta == pytest.approx([min(1.0, t / warmup) for t in range(epochs * steps)])
    assert history.epoch_beta == history.step_beta[steps - 1::steps]
    expected_total = [r + b * k for r, b, k in zip(history.step_recon, history.step_beta, history.step_kl)]
    assert history.step_total == pytest.approx(expected_total, rel=1e-5, abs=1e-4)
    for e in range(epochs):
        window = slice(e * steps, (e + 1) * steps)
        assert history.epoch_total[e] == pytest.approx(sum(history.step_total[window]) / steps, rel=1e-6)
        assert history.epoch_kl[e] == pytest.approx(sum(history.epoch_kl_per_dim[e]), rel=1e-4, abs=1e-5)


def test_same_seed_and_initial_weights_give_identical_runs(digits):
    histories, weights = [], []
    for _ in range(2):
        model = _vae(seed=3)
        histories.append(_without_timings(fit(model, digits[:500], FAST, progress=False)))
        weights.append(model.state_dict())
    assert histories[0] == histories[1]
    for name in weights[0]:
        assert torch.equal(weights[0][name], weights[1][name]), name
    other = fit(_vae(seed=3), digits[:500], dataclasses.replace(FAST, seed=1), progress=False)
    assert other.step_total != histories[0]["step_total"]  # the seed matters (shuffling, ε)


def test_validation_data_does_not_change_training(digits):
    """Passing x_val only adds measurements: the trained weights must be the same without it."""
    runs = []
    for x_val in (None, digits[1000:1100]):
        model = _vae(seed=4)
        history = fit(model, digits[:500], FAST, x_val=x_val, progress=False)
        runs.append((history.step_total, model.state_dict()))
    # Equal up to float rounding (BLAS kernels may differ with memory alignment); reseeding the
    # noise, the bug this guards against, changes the losses by whole nats.
    assert runs[0][0] == pytest.approx(runs[1][0], rel=1e-5, abs=1e-4)
    assert all(torch.allclose(runs[0][1][name], runs[1][1][name], atol=1e-5) for name in runs[0][1])


class _RecordingVAE(VAE):
    """A VAE that remembers the batches it was trained on."""

    def __init__(self) -> None:
        super().__init__(DIGITS, LATENT, (32,))
        self.seen: list[Tensor] = []

    def encode(self, x: Tensor):
        self.seen.append(x.detach().clone())
        return super().encode(x)


@pytest.mark.parametrize("binarize", [True, False])
def test_binarize_trains_on_fresh_bernoulli_samples(digits, binarize):
    x_train = digits[:600]
    model = _RecordingVAE()
    history = fit(model, x_train, dataclasses.replace(FAST, epochs=2, binarize=binarize), progress=False)
    seen = torch.cat(model.seen)  # (epochs·N, 1, 8, 8)
    assert seen.shape[0] == 2 * len(x_train)
    is_binary = bool(((seen == 0) | (seen == 1)).all())
    assert is_binary == binarize
    if binarize:  # E[Bernoulli(x)] = x: the share of ones matches the mean grey level
        assert seen.mean().item() == pytest.approx(x_train.mean().item(), abs=0.01)
        first, second = seen[: len(x_train)], seen[len(x_train):]
        assert not torch.equal(first.sum(0), second.sum(0))  # a fresh sample each epoch
    assert all(math.isfinite(v) for v in history.step_total)


@pytest.mark.parametrize("kind", ["autoencoder", "gaussian_vae_scalar", "gaussian_vae_pixel", "conv_vae"])
def test_every_model_kind_trains(digits, kind):
    torch.manual_seed(0)
    model, loss = {
        "autoencoder": (Autoencoder(DIGITS, LATENT, (64,)), LossConfig()),
        "gaussian_vae_scalar": (GaussianVAE(DIGITS, LATENT, (64,), "scalar"), LossConfig("gaussian")),
        "gaussian_vae_pixel": (GaussianVAE(DIGITS, LATENT, (64,), "pixel"), LossConfig("gaussian")),
        "conv_vae": (ConvVAE(DIGITS, LATENT, (8, 16, 64)), LossConfig()),  # 8x8: 8 -> 4 -> 2
    }[kind]
    history = fit(model, digits[:1000], FAST, loss, progress=False)
    assert all(math.isfinite(v) for v in history.step_total)
    assert history.epoch_total[-1] < history.epoch_total[0] - 2.0
    if kind.startswith("gaussian"):
        assert (model.logvar_x != 0).any()  # the decoder's σ is learned
    if kind == "autoencoder":
        assert history.epoch_kl == [0.0] * FAST.epochs
        result = evaluate(model, digits[1000:1100], loss)
        assert result["kl"] == 0.0 and result["neg_elbo"] == result["recon"]
        assert "kl_per_dim" not in result and "active_units" not in result


@pytest.mark.parametrize("loss_type", ["mse", "l1"])
def test_fit_accepts_data_outside_unit_interval_for_non_bce_losses(digits, loss_type):
    config, loss = dataclasses.replace(FAST, epochs=1), LossConfig(loss_type)
    history = fit(_vae(), 4 * digits[:200] - 2, config, loss, progress=False)
    assert all(math.isfinite(v) for v in history.step_total)


def test_fit_rejects_bce_data_outside_the_unit_interval(digits):
    with pytest.raises(ValueError, match=r"\[0, 1\].*x / 255"):
        fit(_vae(), 16 * digits[:200], FAST, progress=False)  # load_digits' raw 0..16 scale


# --- evaluate -----------------------------------------------------------------------------------

def test_evaluate_parts_add_up(trained_vae, binary_digits):
    result = evaluate(trained_vae, binary_digits[1000:1300], batch_size=128)
    assert result["neg_elbo"] == pytest.approx(result["recon"] + result["kl"], rel=1e-6)
    assert len(result["kl_per_dim"]) == LATENT
    assert sum(result["kl_per_dim"]) == pytest.approx(result["kl"], rel=1e-5)
    assert all(kl >= 0 for kl in result["kl_per_dim"])
    assert 0 <= result["active_units"] <= LATENT


def test_evaluate_matches_an_independent_elbo_estimate(trained_vae, binary_digits):
    x = binary_digits[1000:1300]
    with torch.no_grad():
        mu, logvar = trained_vae.encode(x)
        kl = kl_divergence(mu, logvar, "batchmean").item()  # exact
        logits = [trained_vae.decode_logits(trained_vae.reparameterize(mu, logvar)) for _ in range(16)]
        recon_samples = torch.stack([  # (S,) one-sample reconstruction NLLs, nats per image
            vae_reconstruction_loss(sample, x, logits=True, reduction="batchmean") for sample in logits
        ])
    results = [evaluate(trained_vae, x, batch_size=64, seed=s) for s in range(4)]
    assert all(r["kl"] == pytest.approx(kl, rel=1e-4) for r in results)
    spread = recon_samples.std().item()
    evaluated = sum(r["recon"] for r in results) / len(results)
    assert abs(evaluated - recon_samples.mean().item()) < 4 * spread + 0.05


def test_evaluate_counts_active_units_from_the_variance_of_mu(trained_vae, binary_digits):
    x = binary_digits[1000:1300]
    with torch.no_grad():
        variance = trained_vae.encode(x)[0].var(0)  # (D,)
    for threshold in (0.0, 0.01, 0.1, float(variance.median())):
        expected = int((variance > threshold).sum())
        assert evaluate(trained_vae, x, active_threshold=threshold)["active_units"] == expected
    collapsed = _vae()
    with torch.no_grad():
        collapsed.fc_mu.weight.zero_()  # mu no longer depends on x
    assert evaluate(collapsed, x)["active_units"] == 0


def test_evaluate_is_seeded_and_restores_training_mode(trained_vae, digits):
    x = digits[1000:1200]
    trained_vae.train()
    try:
        first = evaluate(trained_vae, x, binarize=True, seed=5)
        assert trained_vae.training
        assert evaluate(trained_vae, x, binarize=True, seed=5) == first
        assert evaluate(trained_vae, x, binarize=False, seed=5)["recon"] != first["recon"]
    finally:
        trained_vae.eval()


# --- importance-weighted NLL --------------------------------------------------------------------

def test_iwae_bound_is_below_the_elbo_and_tightens_with_k(trained_vae, binary_digits):
    x = binary_digits[1000:1300]
    neg_elbo = sum(evaluate(trained_vae, x, seed=s)["neg_elbo"] for s in range(4)) / 4
    iwae = {k: importance_weighted_nll(trained_vae, x, k, batch_size=100) for k in (1, 10, 100)}
    assert iwae[1] == pytest.approx(neg_elbo, abs=0.3)  # k = 1 is the ELBO itself
    assert iwae[100] < neg_elbo - 0.2  # ≈ 0.5 nats tighter on this model
    assert iwae[1] >= iwae[10] - 0.02 and iwae[10] >= iwae[100] - 0.02
    assert iwae[100] > 0  # a Bernoulli likelihood: -log p(x) > 0


@pytest.mark.parametrize("loss_type", ["bce", "mse", "l1", "gaussian"])
def test_iwae_with_one_sample_agrees_with_evaluate(digits, loss_type):
    """E[IWAE_1] = -ELBO exactly, so both must measure the same (normalised) density."""
    torch.manual_seed(0)
    model = GaussianVAE(DIGITS, LATENT, (32,)) if loss_type == "gaussian" else VAE(DIGITS, LATENT, (32,))
    x = (digits[:300] > 0.5).float() if loss_type == "bce" else digits[:300]
    neg_elbo = sum(evaluate(model, x, LossConfig(loss_type), seed=s)["neg_elbo"] for s in range(3)) / 3
    iwae_1 = sum(importance_weighted_nll(model, x, 1, loss_type=loss_type, seed=s) for s in range(3)) / 3
    assert iwae_1 == pytest.approx(neg_elbo, abs=0.5)


def test_iwae_needs_a_vae(digits):
    with pytest.raises(ValueError, match="needs a VAE"):
        importance_weighted_nll(Autoencoder(DIGITS, LATENT), digits[:10], k=2)


# --- threads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1, 1.5, "two", True])
def test_num_threads_must_be_auto_none_or_a_positive_int(bad):
    with pytest.raises(ValueError, match="num_threads"):
        TrainConfig(num_threads=bad)


def test_fit_chooses_threads_records_them_and_restores_the_callers(monkeypatch, digits):
    monkeypatch.setattr(runtime, "auto_threads", lambda: 1)
    before = torch.get_num_threads()
    history = fit(_vae(), digits[:200], dataclasses.replace(FAST, epochs=1, num_threads="auto"), progress=False)
    assert history.threads == 1
    assert torch.get_num_threads() == before


# --- precision ----------------------------------------------------------------------------------

def test_bf16_training_learns_like_fp32_and_keeps_float32_weights(binary_digits):
    runs = {}
    for precision in ("fp32", "bf16"):
        model = _vae()
        history = fit(model, binary_digits[:1000], dataclasses.replace(FAST, epochs=10, precision=precision),
                      progress=False)
        assert all(p.dtype == torch.float32 for p in model.parameters())
        runs[precision] = evaluate(model, binary_digits[1000:])["neg_elbo"], history.epoch_total
    (fp32, fp32_curve), (bf16, bf16_curve) = runs["fp32"], runs["bf16"]
    assert bf16_curve[-1] < 0.8 * bf16_curve[0]  # it learns
    assert bf16 == pytest.approx(fp32, rel=0.03)  # and ends where float32 ends (test −ELBO)


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


def test_iwae_per_image_estimates_average_to_the_mean(trained_vae, binary_digits):
    x = binary_digits[:40]
    per_image = importance_weighted_nll(trained_vae, x, k=20, per_image=True)
    assert per_image.shape == (40,)
    assert per_image.mean().item() == pytest.approx(importance_weighted_nll(trained_vae, x, k=20), rel=1e-6)
    with pytest.raises(ValueError, match="k must be"):
        importance_weighted_nll(trained_vae, x, k=0)


def test_conv_vae_trains_under_bf16_and_returns_contiguous_weights(digits):
    torch.manual_seed(0)
    model = ConvVAE(DIGITS, LATENT, (8, 16, 32))
    history = fit(model, digits[:500], dataclasses.replace(FAST, epochs=4, precision="bf16"), progress=False)
    assert history.epoch_total[-1] < 0.95 * history.epoch_total[0]  # it learns (45.0 -> 40.7 nats measured)
    assert all(p.is_contiguous() and p.dtype == torch.float32 for p in model.parameters())


def _conv_layouts(model) -> list[bool]:
    return [m.weight.is_contiguous(memory_format=torch.channels_last) for m in model.modules()
            if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1]


def test_bf16_conv_training_stays_channels_last_through_validation(digits):
    """evaluate(x_val) inside fit must not switch the model back to the default layout mid-training."""
    torch.manual_seed(0)
    model = ConvVAE(DIGITS, LATENT, (8, 16, 32))
    seen = []
    conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1][0]
    conv.register_forward_pre_hook(lambda m, _: seen.append((m.training, m.weight.is_contiguous(memory_format=torch.channels_last))))
    fit(model, digits[:300], dataclasses.replace(FAST, epochs=3, precision="bf16"), x_val=digits[300:400], progress=False)
    training = [layout for is_training, layout in seen if is_training]
    assert len(training) == 9 and all(training)  # 3 epochs x 3 batches, every one channels-last
    assert _conv_layouts(model) == [False]  # restored when fit returns


def test_channels_last_changes_layout_not_results(digits):
    torch.manual_seed(0)
    model = ConvVAE(DIGITS, LATENT, (8, 16, 32)).eval()
    z = torch.randn(16, LATENT)
    with torch.no_grad():
        before = model.decode_logits(z)
        with runtime.channels_last(model):
            assert _conv_layouts(model) == [True]
            inside = model.decode_logits(z)
    assert _conv_layouts(model) == [False]
    torch.testing.assert_close(inside, before, rtol=1e-5, atol=1e-5)
    x = (digits[:64] > 0.5).float()
    nll = importance_weighted_nll(model, x, k=5)
    assert _conv_layouts(model) == [False] and math.isfinite(nll)


def test_fit_with_unit_weights_is_fit_without_weights(digits):
    plain, weighted = _vae(), _vae()
    h_plain = fit(plain, digits, FAST, progress=False)
    h_weighted = fit(weighted, digits, FAST, weights=torch.ones(8, 8), progress=False)
    assert h_weighted.epoch_total == pytest.approx(h_plain.epoch_total, rel=1e-6)


def test_fit_pixel_weights_decide_which_pixels_are_learnt(digits):
    """Zero weight on the left half: the model never learns those pixels, and learns the right half."""
    mask = torch.ones(8, 8)
    mask[:, :4] = 0.0
    errors = {}
    for name, weights in (("plain", None), ("right only", mask)):
        torch.manual_seed(0)
        model = Autoencoder(DIGITS, LATENT)
        fit(model, digits, dataclasses.replace(FAST, epochs=5), LossConfig(recon_loss_type="mse"),
            weights=weights, progress=False)
        with torch.no_grad():
            squared = (model(digits)[0] - digits) ** 2  # (N, 1, 8, 8)
        errors[name] = (squared[..., :4].mean().item(), squared[..., 4:].mean().item())
    left_plain, right_plain = errors["plain"]
    left_masked, right_masked = errors["right only"]
    assert left_masked > 3 * left_plain  # unlearnt
    assert right_masked < 1.5 * right_plain  # learnt about as well as without the mask


@pytest.mark.parametrize("weights, message", [
    (torch.ones(7, 7), "do not broadcast"),
    (-torch.ones(8, 8), ">= 0"),
    ([[1.0]], "must be a tensor"),
])
def test_fit_rejects_bad_weights_before_training(digits, weights, message):
    model = _vae()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises((ValueError, TypeError), match=message):
        fit(model, digits, FAST, weights=weights, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
