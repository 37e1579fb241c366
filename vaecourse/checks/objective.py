"""Checks for 02_vae_objective: analytic KL, the β-VAE loss, linear annealing, free bits."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from vaecourse import losses
from vaecourse.checks import guard
from vaecourse.checks.parts import part
from vaecourse.checks.core import (
    Mismatch,
    call,
    expect_number,
    expect_tensor,
    matches,
    register,
    scaled,
    seeded,
)

ASSIGNMENT = "02_vae_objective"
B, D = 4, 3  # batch size and latent dimensions of the check inputs
L_ = "vaecourse.losses."
KL_REFERENCES = (L_ + "kl_divergence", L_ + "kl_divergence_per_dim", L_ + "vae_loss",
                 "torch.distributions.kl.kl_divergence", "torch.distributions.kl._kl_normal_normal")


def _posterior(seed: int) -> tuple[Tensor, Tensor]:
    """(mu, logvar), each (B, D), with variances both below and above 1."""
    g = seeded(seed)
    return torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)


def _kl_hints(mu: Tensor, logvar: Tensor, reduction: str) -> list:
    wrong = {
        "KL = -½ Σ (1 + logvar − mu² − exp(logvar)): check the overall minus sign.":
            0.5 * (1 + logvar - mu.pow(2) - logvar.exp()),
        "exp(logvar) is the variance σ²; exp(0.5·logvar) would be σ.":
            -0.5 * (1 + logvar - mu.pow(2) - torch.exp(0.5 * logvar)),
        "mu enters squared: mu.pow(2), not mu.":
            -0.5 * (1 + logvar - mu - logvar.exp()),
    }
    hints = [matches(losses.reduce_loss(v, reduction), t) for t, v in wrong.items()]
    return hints + [scaled(0.5, "you are missing the factor ½ in front of the sum.")]


def _kl_reduction_hints(reduction: str) -> list:
    if reduction == "mean":
        return [scaled(1 / (B * D), f"'mean' averages over all B·D = {B * D} values: divide the sum by {B * D}."),
                scaled(1 / D, "'mean' averages over the batch *and* the latent dimensions (B·D values).")]
    if reduction == "sum":
        return [scaled(B * D, "you averaged; 'sum' adds every (example, dimension) value."),
                scaled(B, f"'sum' also adds over the batch (your value × {B} matches).")]
    return [scaled(D, "'none' sums each example over its latent dimensions (you averaged them).")]


@register("kl_divergence", assignment=ASSIGNMENT, function="kl_divergence", points=2, forbidden=KL_REFERENCES)
def check_kl(kl_divergence: Callable) -> None:
    mu, logvar = _posterior(0)
    for reduction in ("sum", "mean", "none"):
        with part(f"reduction={reduction!r}"):
            case = f"kl_divergence(mu, logvar, reduction={reduction!r}) with mu, logvar of shape {(B, D)}"
            got = call(kl_divergence, mu.clone(), logvar.clone(), reduction=reduction, case=case)
            expected = losses.kl_divergence(mu, logvar, reduction)
            shape_hint = "'none' gives one KL per example, shape (B,): sum over the latent dimensions." \
                if reduction == "none" else "'sum' and 'mean' return a scalar, shape ()."
            hints = _kl_hints(mu, logvar, reduction) + _kl_reduction_hints(reduction)
            expect_tensor(got, expected, case=case, hints=hints, shape_hint=shape_hint)
            if reduction == "sum":  # in the same part: a function that always returns 0 earns nothing for it
                _check_prior(kl_divergence)


def _check_prior(kl_divergence: Callable) -> None:
    zeros = torch.zeros(2 if guard.variant() is None else 3 + guard.variant_seed(5) % 6, D)
    case = "kl_divergence(mu=0, logvar=0): the posterior equals the prior"
    expect_tensor(call(kl_divergence, zeros, zeros.clone(), reduction="sum", case=case), torch.tensor(0.0),
                  case=case, atol=1e-6)


def _vae_inputs(seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """x_hat, x (B, 1, 4, 4) in (0, 1) and mu, logvar (B, D)."""
    g = seeded(seed)
    x = torch.rand(B, 1, 4, 4, generator=g)
    x_hat = 0.05 + 0.9 * torch.rand(B, 1, 4, 4, generator=g)
    mu, logvar = _posterior(seed + 1)
    return x_hat, x, mu, logvar


@register("vae_loss", assignment=ASSIGNMENT, function="vae_loss", points=2, forbidden=KL_REFERENCES)
def check_vae_loss(vae_loss: Callable) -> None:
    x_hat, x, mu, logvar = _vae_inputs(10)
    n = x.numel()
    for beta in (1.0, 4.0, 0.0):
        case = f"vae_loss(x_hat, x, mu, logvar, beta={beta}) with x of shape {tuple(x.shape)}"
        got = call(vae_loss, x_hat.clone(), x.clone(), mu.clone(), logvar.clone(), beta=beta, case=case)
        if not isinstance(got, tuple) or len(got) != 3:
            raise Mismatch(f"on {case}: expected a tuple (total, recon, kl), got {type(got).__name__}.")
        total, recon, kl = losses.vae_loss(x_hat, x, mu, logvar, beta, "bce", reduction="sum")
        with part(f"recon, beta={beta}"):
            expect_tensor(got[1], recon, case=f"{case}, recon", hints=[
                scaled(n, f"sum the BCE over pixels and the batch: F.binary_cross_entropy(..., reduction='sum'); "
                          f"its default 'mean' divides by {n} — a hidden β."),
                matches(F.mse_loss(x_hat, x, reduction="sum"), "the seed's VAE uses BCE, not MSE."),
            ])
        with part(f"kl, beta={beta}"):
            expect_tensor(got[2], kl, case=f"{case}, kl", hints=_kl_hints(mu, logvar, "sum"))
        with part(f"total, beta={beta}"):
            expect_tensor(got[0], total, case=f"{case}, total", hints=[
                matches(recon + kl, "multiply the KL term by beta."),
                matches(beta * recon + kl, "beta weights the KL term, not the reconstruction."),
            ])


@register("beta_annealing", assignment=ASSIGNMENT, function="linear_annealing", points=1,
          forbidden=(L_ + "linear_annealing", L_ + "cyclical_annealing", L_ + "beta_at"))
def check_annealing(linear_annealing: Callable) -> None:
    for step, beta_max, warmup in _annealing_cases():
        case = f"linear_annealing(step={step}, beta_max={beta_max}, warmup_steps={warmup})"
        got = call(linear_annealing, step, beta_max, warmup, case=case)
        expected = losses.linear_annealing(step, beta_max, warmup)
        hints = [
            ((lambda g, e, s=step, t=warmup, b=beta_max: s > t and abs(g.item() - b * s / t) < 1e-6),
             "after the warm-up β stays at beta_max: take min(1, step / warmup_steps)."),
            ((lambda g, e, s=step, t=warmup, b=beta_max: abs(g.item() - s / t) < 1e-6 and b != 1.0),
             "scale the ramp by beta_max: β(t) = beta_max · min(1, t / T)."),
        ]
        with part(f"step={step}"):
            expect_number(got, expected, case=case, hints=hints)


def _annealing_cases() -> list[tuple[int, float, int]]:
    """(step, beta_max, warmup_steps): before, at and after the warm-up; random ones for a hidden variant."""
    if guard.variant() is None:
        return [(0, 1.0, 100), (25, 1.0, 100), (100, 1.0, 100), (250, 1.0, 100), (30, 4.0, 60)]
    g = seeded(50)
    warmup = int(torch.randint(20, 500, (), generator=g))
    beta_max = round(float(torch.empty(()).uniform_(0.5, 8.0, generator=g)), 3)
    after = warmup + int(torch.randint(1, 999, (), generator=g))
    steps = torch.randint(1, warmup, (2,), generator=g).tolist() + [after]
    return [(int(t), beta_max, warmup) for t in steps]


def _kl_table() -> Tensor:
    """(B, D) KL values per example and dimension, some below and some above the floors."""
    if guard.variant() is None:
        return torch.tensor([[0.05, 1.2, 0.3], [0.15, 0.8, 0.9], [0.0, 1.6, 0.2], [0.2, 0.4, 0.6]])
    return 2.0 * torch.rand(5, 4, generator=seeded(60)) ** 2


@register("free_bits", assignment=ASSIGNMENT, function="free_bits_kl", points=2,
          forbidden=(L_ + "free_bits_kl", L_ + "vae_loss"))
def check_free_bits(free_bits_kl: Callable) -> None:
    kl = _kl_table()  # (B, D)
    for free_bits in (0.0, 0.5, 2.0):
        with part(f"free_bits={free_bits}"):
            _check_floor(free_bits_kl, kl, free_bits)


def _check_floor(free_bits_kl: Callable, kl: Tensor, free_bits: float) -> None:
    case = f"free_bits_kl(kl_per_dim, free_bits={free_bits}) with kl_per_dim of shape {tuple(kl.shape)}"
    got = call(free_bits_kl, kl.clone(), free_bits, case=case)
    expected = losses.free_bits_kl(kl, free_bits)
    hints = [
        matches(kl.clamp(min=free_bits).mean(0).sum(),
                "average each dimension over the batch first, then apply the floor max(λ, ·)."),
        matches(kl.sum(1).mean().clamp(min=free_bits),
                "the floor λ applies to each latent dimension separately, not to the total KL."),
        matches(kl.mean(0).clamp(max=free_bits).sum(), "use max(λ, KL_j): the floor, not min."),
        matches(kl.clamp(min=free_bits).sum(),
                "return nats per example: average over the batch, then sum over dimensions."),
    ]
    expect_tensor(got, expected, case=case, hints=hints, shape_hint="return a scalar, shape ().")
