"""vaecourse.losses checked against torch.distributions, torch.nn.functional, the seeds and Monte Carlo."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Laplace, Normal, kl_divergence as torch_kl

from vaecourse.config import BetaSchedule
from vaecourse.losses import (
    NLL_CONSTANT_PER_ELEMENT,
    REDUCTIONS,
    beta_at,
    cyclical_annealing,
    kl_divergence,
    kl_divergence_per_dim,
    linear_annealing,
    reduce_loss,
    vae_loss,
    vae_reconstruction_loss,
)

B, SHAPE, D = 5, (1, 4, 6), 3  # batch, (C, H, W), latent dim
N = math.prod(SHAPE)  # data dims per example


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _probs(gen: torch.Generator, shape=(B, *SHAPE)) -> torch.Tensor:
    """Decoder means strictly inside (0, 1), float64 so identities hold to ~1e-12."""
    return torch.rand(shape, generator=gen, dtype=torch.float64) * 0.98 + 0.01


def _binary(gen: torch.Generator, shape=(B, *SHAPE)) -> torch.Tensor:
    return torch.bernoulli(torch.full(shape, 0.5, dtype=torch.float64), generator=gen)


def _posterior(gen: torch.Generator, batch: int = B, latent_dim: int = D):
    mu = torch.randn(batch, latent_dim, generator=gen, dtype=torch.float64)
    logvar = torch.randn(batch, latent_dim, generator=gen, dtype=torch.float64)
    return mu, logvar


# The seed's vae_loss (001_…), verbatim: the oracle for our defaults.
def seed_vae_loss(recon_x, x, mu, logvar, beta=1.0):
    recon_loss = F.binary_cross_entropy(recon_x, x, reduction='sum')
    kl_loss = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    total_loss = recon_loss + beta * kl_loss
    return total_loss, recon_loss, kl_loss


# --- reconstruction NLLs against torch.distributions ------------------------------------------

def test_bce_is_the_bernoulli_nll_and_the_seeds_formula():
    gen = _gen(1)
    x, x_hat = _binary(gen), _probs(gen)
    loss = vae_reconstruction_loss(x_hat, x, "bce")
    torch.testing.assert_close(loss, -Bernoulli(probs=x_hat).log_prob(x).sum())
    torch.testing.assert_close(loss, F.binary_cross_entropy(x_hat, x, reduction="sum"))


def test_bce_with_logits_is_the_bernoulli_nll_from_logits():
    gen = _gen(2)
    x, logits = _binary(gen), 3 * torch.randn(B, *SHAPE, generator=gen, dtype=torch.float64)
    loss = vae_reconstruction_loss(logits, x, "bce", logits=True)
    torch.testing.assert_close(loss, -Bernoulli(logits=logits).log_prob(x).sum())
    torch.testing.assert_close(loss, vae_reconstruction_loss(torch.sigmoid(logits), x, "bce"))


def test_mse_is_a_gaussian_nll_with_variance_one_half_minus_its_constant():
    gen = _gen(3)
    x, x_hat = _probs(gen), _probs(gen)
    loss = vae_reconstruction_loss(x_hat, x, "mse")
    nll = -Normal(x_hat, math.sqrt(0.5)).log_prob(x).sum()
    torch.testing.assert_close(loss, nll - x.numel() * 0.5 * math.log(math.pi))
    torch.testing.assert_close(loss, F.mse_loss(x_hat, x, reduction="sum"))


def test_l1_is_a_laplace_nll_with_scale_one_minus_its_constant():
    gen = _gen(4)
    x, x_hat = _probs(gen), _probs(gen)
    loss = vae_reconstruction_loss(x_hat, x, "l1")
    nll = -Laplace(x_hat, 1.0).log_prob(x).sum()
    torch.testing.assert_close(loss, nll - x.numel() * math.log(2.0))
    torch.testing.assert_close(loss, F.l1_loss(x_hat, x, reduction="sum"))


@pytest.mark.parametrize(
    "logvar_x",
    [-1.3, torch.tensor(0.7, dtype=torch.float64), "pixel", "element"],
    ids=["float", "scalar-tensor", "per-pixel (C,H,W)", "per-element (B,C,H,W)"],
)
def test_gaussian_is_the_exact_normal_nll(logvar_x):
    gen = _gen(5)
    x, x_hat = _probs(gen), _probs(gen)
    if logvar_x == "pixel":
        logvar_x = torch.randn(SHAPE, generator=gen, dtype=torch.float64)
    elif logvar_x == "element":
        logvar_x = torch.randn(B, *SHAPE, generator=gen, dtype=torch.float64)
    loss = vae_reconstruction_loss(x_hat, x, "gaussian", logvar_x=logvar_x)
    sigma = torch.exp(0.5 * torch.as_tensor(logvar_x, dtype=torch.float64))
    torch.testing.assert_close(loss, -Normal(x_hat, sigma).log_prob(x).sum())


def test_gaussian_gradient_reaches_a_learned_logvar_x():
    gen = _gen(6)
    x, x_hat = _probs(gen), _probs(gen)
    ours = torch.zeros(SHAPE, dtype=torch.float64, requires_grad=True)
    oracle = torch.zeros(SHAPE, dtype=torch.float64, requires_grad=True)
    vae_reconstruction_loss(x_hat, x, "gaussian", logvar_x=ours).backward()
    (-Normal(x_hat, torch.exp(0.5 * oracle)).log_prob(x).sum()).backward()
    assert ours.grad is not None and ours.grad.abs().sum() > 0
    torch.testing.assert_close(ours.grad, oracle.grad)


@pytest.mark.parametrize(
    "loss_type, kwargs, make_dist",
    [
        ("bce", {}, lambda m: Bernoulli(probs=m)),
        ("mse", {}, lambda m: Normal(m, math.sqrt(0.5))),
        ("l1", {}, lambda m: Laplace(m, 1.0)),
        ("gaussian", {"logvar_x": 0.0}, lambda m: Normal(m, 1.0)),
    ],
)
def test_nll_constant_turns_each_loss_into_a_normalised_nll(loss_type, kwargs, make_dist):
    gen = _gen(7)
    x = _binary(gen) if loss_type == "bce" else _probs(gen)
    x_hat = _probs(gen)
    loss = vae_reconstruction_loss(x_hat, x, loss_type, "none", **kwargs)  # (B,)
    nll = -make_dist(x_hat).log_prob(x).flatten(1).sum(1)  # (B,)
    torch.testing.assert_close(loss + NLL_CONSTANT_PER_ELEMENT[loss_type] * N, nll)


@pytest.mark.parametrize("loss_type", ["mse", "l1", "gaussian"])
def test_logits_true_applies_the_sigmoid_first(loss_type):
    gen = _gen(8)
    x, logits = _probs(gen), 2 * torch.randn(B, *SHAPE, generator=gen, dtype=torch.float64)
    kwargs = {"logvar_x": -0.5} if loss_type == "gaussian" else {}
    torch.testing.assert_close(
        vae_reconstruction_loss(logits, x, loss_type, logits=True, **kwargs),
        vae_reconstruction_loss(torch.sigmoid(logits), x, loss_type, **kwargs),
    )


# --- KL divergence -------------------------------------------------------------------------------

def test_kl_matches_torch_distributions():
    mu, logvar = _posterior(_gen(9))
    oracle = torch_kl(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))  # (B, D)
    per_dim = kl_divergence_per_dim(mu, logvar)
    assert per_dim.shape == (B, D)
    torch.testing.assert_close(per_dim, oracle)
    torch.testing.assert_close(kl_divergence(mu, logvar), oracle.sum())
    assert (per_dim >= 0).all()


def test_kl_is_zero_exactly_at_the_prior():
    zeros = torch.zeros(B, D)
    assert kl_divergence(zeros, zeros).item() == 0.0


def test_kl_agrees_with_a_monte_carlo_estimate():
    gen = _gen(10)
    mu = torch.tensor([[0.5, -1.5, 2.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.3, -1.0, 1.2]], dtype=torch.float64)
    q, p = Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)
    eps = torch.randn(100_000, *mu.shape, generator=gen, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps  # (S, 1, D) samples of q
    log_ratio = (q.log_prob(z) - p.log_prob(z)).sum(-1).flatten()  # (S,)
    estimate, stderr = log_ratio.mean(), log_ratio.std() / math.sqrt(log_ratio.numel())
    assert abs(kl_divergence(mu, logvar).item() - estimate.item()) < 4 * stderr.item()


# --- reductions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("loss_type, functional", [
    ("bce", F.binary_cross_entropy), ("mse", F.mse_loss), ("l1", F.l1_loss),
])
def test_reduction_identities(loss_type, functional):
    gen = _gen(11)
    x, x_hat = _probs(gen), _probs(gen)
    per_example = vae_reconstruction_loss(x_hat, x, loss_type, "none")
    assert per_example.shape == (B,)
    oracle = torch.stack([functional(x_hat[b], x[b], reduction="sum") for b in range(B)])
    torch.testing.assert_close(per_example, oracle)
    torch.testing.assert_close(vae_reconstruction_loss(x_hat, x, loss_type, "sum"), per_example.sum())
    torch.testing.assert_close(vae_reconstruction_loss(x_hat, x, loss_type, "batchmean"), per_example.mean())
    torch.testing.assert_close(
        vae_reconstruction_loss(x_hat, x, loss_type, "mean"), functional(x_hat, x, reduction="mean")
    )


def test_kl_reduction_identities():
    mu, logvar = _posterior(_gen(12))
    per_dim = kl_divergence_per_dim(mu, logvar)  # (B, D)
    per_example = kl_divergence(mu, logvar, "none")
    torch.testing.assert_close(per_example, per_dim.sum(1))
    torch.testing.assert_close(kl_divergence(mu, logvar, "sum"), per_example.sum())
    torch.testing.assert_close(kl_divergence(mu, logvar, "batchmean"), per_example.mean())
    torch.testing.assert_close(kl_divergence(mu, logvar, "mean"), per_dim.mean())


def test_reduce_loss_accepts_exactly_the_documented_reductions():
    assert set(REDUCTIONS) == {"sum", "mean", "none", "batchmean"}
    elementwise = torch.arange(12.0).view(3, 4)
    results = {r: reduce_loss(elementwise, r) for r in REDUCTIONS}
    torch.testing.assert_close(results["none"], torch.tensor([6.0, 22.0, 38.0]))
    assert results["sum"].item() == 66.0 and results["batchmean"].item() == 22.0
    assert results["mean"].item() == 5.5


def test_per_pixel_mean_recon_plus_summed_kl_is_a_beta_vae_with_beta_n_pixels():
    """The course's most-asked question, as an identity (MNIST sizes: N = 784 pixels).

    With R_b, K_b the summed reconstruction NLL and KL of example b:
        mean_{b,i} ℓ + mean_b K_b   = (1/N) · [mean_b R_b + N · mean_b K_b]       (β = N)
        mean_{b,i} ℓ + Σ_b K_b      = (1/N) · [mean_b R_b + N·B · mean_b K_b]     (β = N·B)
    A positive scale changes no minimiser, so both are β-VAEs with β ≫ 1; weighting the KL
    by 1/N (the "magic" kld_weight) recovers β = 1.
    """
    gen, batch, pixels, latent_dim = _gen(13), 8, 784, 20
    x, x_hat = _probs(gen, (batch, 1, 28, 28)), _probs(gen, (batch, 1, 28, 28))
    mu, logvar = _posterior(gen, batch, latent_dim)
    recon_mean = vae_reconstruction_loss(x_hat, x, "mse", "mean")
    torch.testing.assert_close(recon_mean, F.mse_loss(x_hat, x))  # what the tutorials write

    def beta_vae(beta: float) -> torch.Tensor:
        return vae_loss(x_hat, x, mu, logvar, beta, "mse", reduction="batchmean")[0]

    trap = recon_mean + kl_divergence(mu, logvar, "batchmean")
    torch.testing.assert_close(trap, beta_vae(pixels) / pixels)
    trap_summed_kl = recon_mean + kl_divergence(mu, logvar, "sum")
    torch.testing.assert_close(trap_summed_kl, beta_vae(pixels * batch) / pixels)
    fixed = recon_mean + kl_divergence(mu, logvar, "batchmean") / pixels
    torch.testing.assert_close(fixed, beta_vae(1.0) / pixels)


# --- vae_loss -------------------------------------------------------------------------------------

def test_vae_loss_defaults_equal_the_seed():
    gen = _gen(14)
    x, x_hat = _probs(gen), _probs(gen)  # grey-level targets, as in the seed's MNIST use
    mu, logvar = _posterior(gen)
    defaults = vae_loss(x_hat, x, mu, logvar)
    assert isinstance(defaults, tuple) and len(defaults) == 3
    for got, want in zip(defaults, seed_vae_loss(x_hat, x, mu, logvar)):
        torch.testing.assert_close(got, want)
    for got, want in zip(vae_loss(x_hat, x, mu, logvar, 4.0), seed_vae_loss(x_hat, x, mu, logvar, 4.0)):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("beta", [0.0, 0.5, 4.0])
def test_beta_scales_only_the_kl(beta):
    gen = _gen(15)
    x, x_hat = _probs(gen), _probs(gen)
    mu, logvar = _posterior(gen)
    total, recon, kl = vae_loss(x_hat, x, mu, logvar, beta, "mse", reduction="batchmean")
    _, recon_1, kl_1 = vae_loss(x_hat, x, mu, logvar, 1.0, "mse", reduction="batchmean")
    torch.testing.assert_close(recon, recon_1)
    torch.testing.assert_close(kl, kl_1)
    torch.testing.assert_close(total, recon + beta * kl)
    torch.testing.assert_close(kl, kl_divergence(mu, logvar, "batchmean"))


def _free_bits_oracle(mu, logvar, floor):
    """Σ_j max(λ, mean_b KL_bj) from torch.distributions: nats per example."""
    kl = torch_kl(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))  # (B, D)
    return kl.mean(0).clamp(min=floor).sum()


@pytest.mark.parametrize("reduction, scale", [("sum", B), ("batchmean", 1)])
def test_free_bits_floors_each_dimension_and_reports_the_true_kl(reduction, scale):
    gen = _gen(16)
    x, x_hat = _probs(gen), _probs(gen)
    mu, logvar = _posterior(gen)
    mu[:, 0], logvar[:, 0] = 0.0, 0.0  # a collapsed dimension: KL_0 = 0 < λ
    beta, floor = 2.0, 0.8
    total, recon, kl = vae_loss(x_hat, x, mu, logvar, beta, reduction=reduction, free_bits=floor)
    torch.testing.assert_close(kl, kl_divergence(mu, logvar, reduction))  # true KL
    torch.testing.assert_close(total, recon + beta * scale * _free_bits_oracle(mu, logvar, floor))
    assert total > recon + beta * kl  # the floor bites on dimension 0


def test_free_bits_stop_the_kl_gradient_only_below_the_floor():
    mu = torch.tensor([[0.1, 2.0], [-0.1, 2.5]], dtype=torch.float64, requires_grad=True)
    logvar = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    x_hat = x = torch.full((2, 1, 2, 2), 0.5, dtype=torch.float64)
    total, _, _ = vae_loss(x_hat, x, mu, logvar, reduction="batchmean", free_bits=0.5)
    total.backward()
    assert (mu.grad[:, 0] == 0).all() and (logvar.grad[:, 0] == 0).all()  # KL_0 ≈ 0.005 < λ
    torch.testing.assert_close(mu.grad[:, 1], mu.detach()[:, 1] / 2)  # d(mean_b μ²/2)/dμ


def test_free_bits_change_nothing_when_every_dimension_exceeds_the_floor():
    gen = _gen(17)
    x, x_hat = _probs(gen), _probs(gen)
    mu = (3.0 + torch.rand(B, D, generator=gen, dtype=torch.float64)).requires_grad_()
    logvar = torch.zeros(B, D, dtype=torch.float64)
    plain, _, _ = vae_loss(x_hat, x, mu, logvar, 3.0)
    (plain_grad,) = torch.autograd.grad(plain, mu)
    floored, _, _ = vae_loss(x_hat, x, mu, logvar, 3.0, free_bits=1.0)  # every KL_j >= 4.5
    (floored_grad,) = torch.autograd.grad(floored, mu)
    torch.testing.assert_close(floored, plain)
    torch.testing.assert_close(floored_grad, plain_grad)


def test_free_bits_with_reduction_none_raises_a_clear_error():
    gen = _gen(18)
    x, x_hat = _probs(gen), _probs(gen)
    mu, logvar = _posterior(gen)
    with pytest.raises(ValueError, match="free_bits.*batchmean"):
        vae_loss(x_hat, x, mu, logvar, reduction="none", free_bits=0.5)


def test_normalized_divides_recon_by_data_dims_and_kl_by_latent_dims():
    gen = _gen(19)
    x, x_hat = _probs(gen), _probs(gen)
    mu, logvar = _posterior(gen)
    beta = 3.0
    total, recon, kl = vae_loss(x_hat, x, mu, logvar, beta, normalized=True, reduction="batchmean")
    torch.testing.assert_close(recon, vae_reconstruction_loss(x_hat, x, "bce", "batchmean") / N)
    torch.testing.assert_close(kl, kl_divergence(mu, logvar, "batchmean") / D)
    torch.testing.assert_close(total, recon + beta * kl)
    # reduction="mean" is the same objective: per-pixel BCE and per-latent KL, like F.*(mean)
    total_mean, recon_mean, kl_mean = vae_loss(x_hat, x, mu, logvar, beta, reduction="mean")
    torch.testing.assert_close(recon_mean, F.binary_cross_entropy(x_hat, x))
    torch.testing.assert_close(kl_mean, kl_divergence(mu, logvar, "mean"))
    torch.testing.assert_close(total_mean, total)


@pytest.mark.parametrize("normalized, reduction", [(True, "batchmean"), (False, "mean")])
def test_free_bits_floor_is_in_nats_per_dimension_when_normalized(normalized, reduction):
    """λ stays nats per latent dim: the floored KL is Σ_j max(λ, KL_j) / D, not Σ_j max(λ, KL_j / D)."""
    gen = _gen(20)
    x, x_hat = _probs(gen), _probs(gen)
    mu = torch.zeros(B, D, dtype=torch.float64)
    mu[:, 0] = 2.0  # KL = (2, 0, 0) nats per dimension
    logvar = torch.zeros(B, D, dtype=torch.float64)
    floor = 1.0
    total, recon, kl = vae_loss(
        x_hat, x, mu, logvar, reduction=reduction, normalized=normalized, free_bits=floor
    )
    torch.testing.assert_close(kl, torch.tensor(2.0 / D, dtype=torch.float64))
    torch.testing.assert_close(total, recon + _free_bits_oracle(mu, logvar, floor) / D)


def test_multimodal_adds_state_weight_times_the_state_mse():
    gen = _gen(21)
    x, x_hat = _probs(gen), _probs(gen)
    mu, logvar = _posterior(gen)
    state = torch.randn(B, 7, generator=gen, dtype=torch.float64)
    recon_state = torch.randn(B, 7, generator=gen, dtype=torch.float64)
    image_only = vae_reconstruction_loss(x_hat, x)
    for weight in (0.0, 0.1, 10.0):
        total, recon, kl = vae_loss(
            x_hat, x, mu, logvar, state=state, recon_state=recon_state, state_weight=weight
        )
        state_mse = F.mse_loss(recon_state, state, reduction="sum")
        torch.testing.assert_close(recon, image_only + weight * state_mse)
        torch.testing.assert_close(total, recon + kl)
    with pytest.raises(ValueError, match="state and recon_state"):
        vae_loss(x_hat, x, mu, logvar, state=state)


def test_weights_multiply_each_element_before_reducing():
    gen = _gen(22)
    x, x_hat = _probs(gen), _probs(gen)
    weights = torch.rand(SHAPE, generator=gen, dtype=torch.float64)  # broadcast over the batch
    elementwise = F.binary_cross_entropy(x_hat, x, reduction="none")
    torch.testing.assert_close(
        vae_reconstruction_loss(x_hat, x, weights=weights, reduction="none"),
        (elementwise * weights).flatten(1).sum(1),
    )


def test_zero_weights_remove_pixels():
    gen = _gen(23)
    x, x_hat = _probs(gen), _probs(gen)
    keep = torch.rand(SHAPE, generator=gen) > 0.5  # (C, H, W) mask
    masked = vae_reconstruction_loss(x_hat, x, "mse", weights=keep.double())
    torch.testing.assert_close(masked, F.mse_loss(x_hat[:, keep], x[:, keep], reduction="sum"))
    x_hat_elsewhere = torch.where(keep, x_hat, 1 - x)  # change only the removed pixels
    changed = vae_reconstruction_loss(x_hat_elsewhere, x, "mse", weights=keep.double())
    torch.testing.assert_close(changed, masked)


# --- saturated decoder outputs ---------------------------------------------------------------

def test_bce_with_probabilities_exactly_zero_or_one_stays_finite():
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    x_hat = torch.tensor([[0.0, 1.0, 1.0, 0.0]], requires_grad=True)  # wrong, wrong, right, right
    loss = vae_reconstruction_loss(x_hat, x)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0
    assert torch.isfinite(x_hat.grad).all()
    assert loss.item() == pytest.approx(F.binary_cross_entropy(x_hat, x, reduction="sum").item())


@pytest.mark.parametrize("loss_type", ["bce", "mse", "l1", "gaussian"])
def test_huge_logits_stay_finite_with_finite_gradients(loss_type):
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    logits = torch.tensor([[-1e4, 1e4, 1e4, -1e4]], requires_grad=True)
    kwargs = {"logvar_x": 0.0} if loss_type == "gaussian" else {}
    loss = vae_reconstruction_loss(logits, x, loss_type, logits=True, **kwargs)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    if loss_type == "bce":  # softplus(1e4) = 1e4 per wrong pixel, gradient σ(l) - x
        assert loss.item() == pytest.approx(2e4)
        torch.testing.assert_close(logits.grad, torch.tensor([[-1.0, 1.0, 0.0, 0.0]]))


def test_vae_loss_with_saturated_logits_is_finite():
    x = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    logits = torch.full_like(x, 1e4).requires_grad_()
    mu, logvar = torch.zeros(1, 2, requires_grad=True), torch.zeros(1, 2, requires_grad=True)
    total, _, _ = vae_loss(logits, x, mu, logvar, logits=True)
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(t.grad).all() for t in (logits, mu, logvar))


# --- bad inputs, each with a message that says what to do ------------------------------------

def _call_with(bad: str):
    gen = _gen(24)
    x, x_hat = _probs(gen), _probs(gen)
    mu, logvar = _posterior(gen)
    calls = {
        "shape": lambda: vae_reconstruction_loss(x_hat.flatten(1), x),
        "loss_type": lambda: vae_reconstruction_loss(x_hat, x, "cross_entropy"),
        "loss_type_vae": lambda: vae_loss(x_hat, x, mu, logvar, recon_loss_type="huber"),
        "reduction": lambda: vae_reconstruction_loss(x_hat, x, reduction="avg"),
        "reduction_kl": lambda: kl_divergence(mu, logvar, reduction="avg"),
        "reduction_vae": lambda: vae_loss(x_hat, x, mu, logvar, reduction="avg"),
        "bce_255": lambda: vae_reconstruction_loss(x_hat, 255 * x),
        "bce_negative": lambda: vae_loss(x_hat, x - 0.5, mu, logvar),
        "bce_nan": lambda: vae_reconstruction_loss(x_hat, torch.full_like(x, float("nan"))),
        "gaussian": lambda: vae_reconstruction_loss(x_hat, x, "gaussian"),
        "kl_shape": lambda: kl_divergence(mu, logvar[:, :-1]),
        "kl_shape_vae": lambda: vae_loss(x_hat, x, mu, logvar.T),
        "unbatched": lambda: vae_reconstruction_loss(x_hat[0, 0, 0], x[0, 0, 0]),
    }
    return calls[bad]


@pytest.mark.parametrize("bad, words", [
    ("shape", ["Shape mismatch", "(5, 24)", "(5, 1, 4, 6)", "view_as"]),
    ("loss_type", ["Unknown loss_type", "'cross_entropy'", "bce", "gaussian"]),
    ("loss_type_vae", ["Unknown loss_type", "'huber'"]),
    ("reduction", ["Unknown reduction", "'avg'", "batchmean"]),
    ("reduction_kl", ["Unknown reduction", "'avg'"]),
    ("reduction_vae", ["Unknown reduction", "'avg'"]),
    ("bce_255", ["[0, 1]", "x / 255", "mse"]),
    ("bce_negative", ["[0, 1]", "Bernoulli"]),
    ("bce_nan", ["[0, 1]"]),
    ("gaussian", ["gaussian", "logvar_x"]),
    ("kl_shape", ["Shape mismatch", "mu", "logvar", "(5, 3)", "(5, 2)"]),
    ("kl_shape_vae", ["Shape mismatch", "mu", "logvar"]),
    ("unbatched", ["batch", "(B, ...)"]),
])
def test_each_bad_input_raises_a_helpful_value_error(bad, words):
    with pytest.raises(ValueError) as info:
        _call_with(bad)()
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_validate_args_false_skips_the_data_range_check():
    gen = _gen(25)
    x, x_hat = _binary(gen), _probs(gen)
    loss = vae_reconstruction_loss(x_hat, x, validate_args=False)
    torch.testing.assert_close(loss, vae_reconstruction_loss(x_hat, x))


# --- β schedules ------------------------------------------------------------------------------

def test_constant_schedule_is_beta_max_at_every_step():
    schedule = BetaSchedule("constant", beta_max=4.0)
    assert [beta_at(schedule, t) for t in (0, 1, 10, 10**6)] == [4.0] * 4


def test_linear_schedule_ramps_then_holds():
    beta_max, warmup = 2.0, 100
    schedule = BetaSchedule("linear", beta_max=beta_max, warmup_steps=warmup)
    expected = {0: 0.0, 50: 1.0, 100: 2.0, 200: 2.0}  # β(t) = min(β_max, β_max·t/T)
    for t, beta in expected.items():
        assert beta_at(schedule, t) == pytest.approx(beta)
        assert linear_annealing(t, beta_max, warmup) == pytest.approx(beta)
    ramp = [beta_at(schedule, t) for t in range(0, 2 * warmup)]
    assert all(a <= b for a, b in zip(ramp, ramp[1:]))


def test_linear_schedule_is_the_seeds_annealing():
    warmup = 40  # seed (001_…): β(t) = min(1, t / T)
    assert [linear_annealing(t, 1.0, warmup) for t in range(100)] == pytest.approx(
        [min(1.0, t / warmup) for t in range(100)]
    )


def test_cyclical_schedule_resets_every_cycle_and_is_flat_after_the_ratio():
    schedule = BetaSchedule("cyclical", beta_max=2.0, cycle_steps=10, ratio=0.5)
    one_cycle = [beta_at(schedule, t) for t in range(10)]
    assert one_cycle == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.0, 2.0, 2.0, 2.0])
    for cycle in (1, 2, 7):
        assert [beta_at(schedule, 10 * cycle + t) for t in range(10)] == pytest.approx(one_cycle)
    assert cyclical_annealing(25, 2.0, 10, 0.5) == beta_at(schedule, 25)


def test_cyclical_with_ratio_one_never_holds():
    betas = [cyclical_annealing(t, 1.0, 4, ratio=1.0) for t in range(8)]
    assert betas == pytest.approx([0.0, 0.25, 0.5, 0.75] * 2)
