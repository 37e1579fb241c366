"""VAE loss terms as pure functions of tensors. Every value is in nats.

Conventions (one vocabulary for the whole course):
    x, recon_x: (B, ...) data and decoder output; mu, logvar: (B, D) posterior parameters.
    Each example is first summed over its non-batch dimensions; `reduce_loss` then reduces:
        "none"      -> (B,)  nats per example
        "sum"       -> ()    nats summed over the batch  (the seeds' and F.*(reduction="sum"))
        "batchmean" -> ()    nats per example, averaged over the batch (what we report)
        "mean"      -> ()    mean over every element, e.g. nats per pixel (F.*(reduction="mean"))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vaecourse.config import RECON_LOSS_TYPES, REDUCTIONS, BetaSchedule

# What each loss type leaves out of -log p(x|z), per element, to be a normalised density.
NLL_CONSTANT_PER_ELEMENT = {
    "bce": 0.0,
    "mse": 0.5 * math.log(math.pi),  # Gaussian with σ² = 1/2
    "l1": math.log(2.0),  # Laplace with scale 1
    "gaussian": 0.0,
}


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"Unknown reduction {reduction!r}; choose one of {REDUCTIONS}.")


def reduce_loss(elementwise: Tensor, reduction: str = "sum") -> Tensor:
    """Reduce an elementwise loss (B, ...) in nats: sum each example first, then the batch."""
    _check_reduction(reduction)
    if reduction == "mean":
        return elementwise.mean()
    per_example = elementwise.reshape(elementwise.shape[0], -1).sum(dim=1)  # (B,)
    if reduction == "none":
        return per_example
    return per_example.sum() if reduction == "sum" else per_example.mean()


def _check_pair(recon_x: Tensor, x: Tensor) -> None:
    if recon_x.shape != x.shape:
        raise ValueError(
            f"Shape mismatch: recon_x has shape {tuple(recon_x.shape)} but x has shape "
            f"{tuple(x.shape)}. Reshape the decoder output to the input's shape, e.g. "
            "recon_x.view_as(x)."
        )
    if x.dim() < 2:
        raise ValueError(f"Expected a batch (B, ...) with B first; got shape {tuple(x.shape)}.")


def _check_unit_interval(x: Tensor) -> None:
    lo, hi = float(x.min()), float(x.max())
    if not 0.0 <= lo <= hi <= 1.0:  # also catches NaN
        raise ValueError(
            f"BCE needs targets x in [0, 1] (a Bernoulli likelihood); got values in "
            f"[{lo:.3g}, {hi:.3g}]. Rescale the data (x / 255) or use loss_type='mse'."
        )


def elementwise_recon_nll(
    recon_x: Tensor,
    x: Tensor,
    loss_type: str = "bce",
    *,
    logits: bool = False,
    logvar_x: Tensor | float | None = None,
) -> Tensor:
    """Unchecked per-element loss (B, ...) in nats; see `vae_reconstruction_loss`."""
    if loss_type == "bce":
        if logits:
            return F.binary_cross_entropy_with_logits(recon_x, x, reduction="none")
        return F.binary_cross_entropy(recon_x, x, reduction="none")
    x_hat = torch.sigmoid(recon_x) if logits else recon_x
    if loss_type == "mse":
        return (x - x_hat).pow(2)
    if loss_type == "l1":
        return (x - x_hat).abs()
    if loss_type == "gaussian":
        logvar_x = torch.as_tensor(logvar_x, dtype=x_hat.dtype, device=x_hat.device)
        return 0.5 * ((x - x_hat).pow(2) * torch.exp(-logvar_x) + logvar_x + math.log(2 * math.pi))
    raise ValueError(f"Unknown loss_type {loss_type!r}; choose one of {RECON_LOSS_TYPES}.")


def vae_reconstruction_loss(
    recon_x: Tensor,
    x: Tensor,
    loss_type: str = "bce",
    reduction: str = "sum",
    *,
    weights: Tensor | None = None,
    logits: bool = False,
    logvar_x: Tensor | float | None = None,
    validate_args: bool = True,
) -> Tensor:
    """Negative log-likelihood -log p(x|z) of x (B, ...) given decoder output recon_x (B, ...).

    loss_type (each summed over elements exactly like F.*(reduction="sum")):
        "bce":      Bernoulli, -[x log x̂ + (1-x) log(1-x̂)]; needs x in [0, 1].
        "mse":      (x - x̂)²: a Gaussian with σ² = 1/2, minus the constant ½·log π per element.
        "l1":       |x - x̂|: a Laplace with scale 1, minus the constant log 2 per element.
        "gaussian": ½[(x - x̂)²/σ² + log σ² + log 2π] with logvar_x = log σ² (learned or fixed),
                    the exact Gaussian negative log-likelihood.
    logits=True: recon_x holds pre-sigmoid values (stable when x̂ saturates at 0 or 1).
    weights: per-element weights broadcastable to x (e.g. a pixel mask), applied before reducing.
    validate_args=False skips the data-range check (it syncs with the device; trainers check once).
    Returns nats, reduced by `reduction` (see the module docstring).
    """
    _check_reduction(reduction)
    _check_pair(recon_x, x)
    if loss_type not in RECON_LOSS_TYPES:
        raise ValueError(f"Unknown loss_type {loss_type!r}; choose one of {RECON_LOSS_TYPES}.")
    if loss_type == "bce" and validate_args:
        _check_unit_interval(x)
    if loss_type == "gaussian" and logvar_x is None:
        raise ValueError("loss_type='gaussian' needs logvar_x, the decoder's log-variance log σ².")
    nll = elementwise_recon_nll(recon_x, x, loss_type, logits=logits, logvar_x=logvar_x)
    if weights is not None:
        nll = nll * weights
    return reduce_loss(nll, reduction)


def kl_divergence_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """Analytic KL(N(mu, exp(logvar)) || N(0, 1)) for each latent dimension: (B, D) nats."""
    if mu.shape != logvar.shape:
        raise ValueError(
            f"Shape mismatch: mu has shape {tuple(mu.shape)}, logvar has {tuple(logvar.shape)}."
        )
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def kl_divergence(mu: Tensor, logvar: Tensor, reduction: str = "sum") -> Tensor:
    """KL(q(z|x) || N(0, I)) = -½ Σ_j (1 + logvar_j - mu_j² - exp(logvar_j)), in nats.

    mu, logvar: (B, D). reduction as in `reduce_loss`; "mean" averages over B and D.
    """
    _check_reduction(reduction)
    return reduce_loss(kl_divergence_per_dim(mu, logvar), reduction)


def free_bits_kl(kl_per_dim: Tensor, free_bits: float) -> Tensor:
    """Σ_j max(λ, mean_b KL_bj) for kl_per_dim (B, D): nats per example with a floor λ per dim."""
    return kl_per_dim.mean(dim=0).clamp(min=free_bits).sum()


def _scale_batch(per_example_mean: Tensor, batch: int, reduction: str) -> Tensor:
    if reduction == "none":
        raise ValueError(
            "free_bits acts on the batch-averaged KL of each dimension, so it has no per-example "
            "value: use reduction 'sum', 'batchmean' or 'mean'."
        )
    return per_example_mean * batch if reduction == "sum" else per_example_mean


def vae_loss(
    recon_x: Tensor,
    x: Tensor,
    mu: Tensor,
    logvar: Tensor,
    beta: float = 1.0,
    recon_loss_type: str = "bce",
    *,
    reduction: str = "sum",
    free_bits: float = 0.0,
    normalized: bool = False,
    logits: bool = False,
    logvar_x: Tensor | float | None = None,
    weights: Tensor | None = None,
    state: Tensor | None = None,
    recon_state: Tensor | None = None,
    state_weight: float = 1.0,
    validate_args: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """The (β-)VAE loss: returns (total, recon, kl) with total = recon + β·KL, in nats.

    Defaults match the seeds: BCE, both terms summed over pixels, latents and the batch.
    free_bits λ > 0: the KL in `total` becomes Σ_j max(λ, batch-mean KL_j); `kl` stays the true KL.
    normalized (or reduction="mean"): recon / N (N data dims) + β·KL / D (D latent dims).
    state, recon_state (B, S): a second modality; recon = L_image + state_weight · MSE_state.
    """
    recon = vae_reconstruction_loss(
        recon_x, x, recon_loss_type, "none",
        weights=weights, logits=logits, logvar_x=logvar_x, validate_args=validate_args,
    )  # (B,)
    if state is not None or recon_state is not None:
        if state is None or recon_state is None:
            raise ValueError("Multi-modal loss needs both state and recon_state.")
        recon = recon + state_weight * vae_reconstruction_loss(recon_state, state, "mse", "none")
    kl_dims = kl_divergence_per_dim(mu, logvar)  # (B, D)
    _check_reduction(reduction)
    per_dim = normalized or reduction == "mean"  # per data dimension and per latent dimension
    if per_dim:
        recon, kl_dims = recon / x[0].numel(), kl_dims / mu.shape[1]
    batch_reduction = "batchmean" if reduction == "mean" else reduction
    recon = reduce_loss(recon, batch_reduction)
    kl_true = reduce_loss(kl_dims, batch_reduction)
    kl_objective = kl_true
    if free_bits > 0:  # λ is nats per latent dim, so it is scaled like kl_dims
        floor = free_bits / mu.shape[1] if per_dim else free_bits
        kl_objective = _scale_batch(free_bits_kl(kl_dims, floor), x.shape[0], reduction)
    return recon + beta * kl_objective, recon, kl_true


def linear_annealing(step: int, beta_max: float, warmup_steps: int) -> float:
    """β(t) = min(β_max, β_max · t / T): a ramp from 0 to β_max over T steps."""
    return beta_max * min(1.0, step / warmup_steps)


def cyclical_annealing(step: int, beta_max: float, cycle_steps: int, ratio: float = 0.5) -> float:
    """Cyclical β (Fu et al. 2019): ramp over `ratio` of each cycle, then hold β_max."""
    position = (step % cycle_steps) / cycle_steps
    return beta_max * min(1.0, position / ratio)


def beta_at(schedule: BetaSchedule, step: int) -> float:
    """β used at optimisation step `step` (0-based) under `schedule`."""
    if schedule.kind == "linear":
        return linear_annealing(step, schedule.beta_max, schedule.warmup_steps)
    if schedule.kind == "cyclical":
        return cyclical_annealing(step, schedule.beta_max, schedule.cycle_steps, schedule.ratio)
    return schedule.beta_max
