"""Checks for 04_sampling_and_evaluation: the reparameterisation trick, the ELBO, the IW bound, effective β."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from vaecourse.checks import guard
from vaecourse.checks.core import (
    Mismatch,
    Shortcut,
    call,
    expect_number,
    expect_tensor,
    matches,
    register,
    scaled,
    seeded,
)
from vaecourse.checks.parts import part
from vaecourse.models import VAE

ASSIGNMENT = "04_sampling_and_evaluation"
HERE = "vaecourse.checks.evaluation."
T_ = "vaecourse.train."
EVALUATORS = (T_ + "evaluate", T_ + "_evaluation_sums", T_ + "importance_weighted_nll", T_ + "_iw_nll")
LOG_PROBS = ("torch.distributions.normal.Normal.log_prob", "torch.distributions.normal.Normal.rsample")
REDUCTIONS = ("sum", "mean", "batchmean")


def _posterior(seed: int, b: int = 4, d: int = 3) -> tuple[Tensor, Tensor, Tensor]:
    """(mu, logvar, eps), each (B, D)."""
    g = seeded(seed)
    return torch.randn(b, d, generator=g), torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)


@register("reparameterize", assignment=ASSIGNMENT, function="reparameterize", points=2,
          forbidden=("vaecourse.models._GaussianEncoderVAE.reparameterize", *LOG_PROBS))
def check_reparameterize(reparameterize: Callable) -> None:
    mu, logvar, eps = _posterior(0)
    case = f"reparameterize(mu, logvar, eps) with mu, logvar, eps of shape {tuple(mu.shape)}"
    with part("values"):
        got = call(reparameterize, mu.clone(), logvar.clone(), eps.clone(), case=case)
        expect_tensor(got, mu + torch.exp(0.5 * logvar) * eps, case=case, hints=[
            matches(mu + torch.exp(logvar) * eps, "exp(logvar) is the variance σ²; scale eps by σ = exp(0.5·logvar)."),
            matches(mu + logvar * eps, "logvar is log σ²: σ = exp(0.5·logvar)."),
            matches(mu + torch.exp(0.5 * logvar), "multiply σ by the noise eps you were given."),
        ])
    weights = torch.randn(mu.shape, generator=seeded(1))  # (B, D): d(z·w)/dmu = w
    try:
        (grad_mu, grad_logvar), problem = _gradients(reparameterize, mu, logvar, eps, weights, case), None
    except Shortcut:
        raise
    except Mismatch as e:
        problem = e
    with part("gradient with respect to mu", weight=0.5):
        if problem is not None:
            raise problem
        expect_tensor(grad_mu, weights, case=f"the gradient of (z·w).sum() with respect to mu, {case}")
    with part("gradient with respect to logvar", weight=0.5):
        if problem is not None:
            raise problem
        expect_tensor(grad_logvar, 0.5 * torch.exp(0.5 * logvar) * eps * weights,
                      case=f"the gradient of (z·w).sum() with respect to logvar, {case}", hints=[
                          scaled(0.5, "d σ / d logvar = ½·σ: compute σ as exp(0.5·logvar), inside the graph."),
                      ])


def _gradients(func: Callable, mu: Tensor, logvar: Tensor, eps: Tensor, weights: Tensor, case: str):
    """(d(z·w).sum()/dmu, .../dlogvar) for z = func(mu, logvar, eps); a Mismatch if no gradient flows."""
    mu, logvar = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    z = call(func, mu, logvar, eps.clone(), case=case)
    if not isinstance(z, Tensor) or z.grad_fn is None:
        raise Mismatch(f"on {case}: no gradient reaches mu and logvar. Compute z = mu + σ·eps with torch operations "
                       "(no torch.no_grad, .detach() or .item()): that is the point of the trick.")
    (z * weights.to(z.device)).sum().backward()
    zero = torch.zeros_like(mu)
    return (mu.grad if mu.grad is not None else zero), (logvar.grad if logvar.grad is not None else zero)


def _tiny_vae(seed: int) -> VAE:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(guard.variant_seed(seed))
        return VAE((1, 4, 4), latent_dim=3, hidden_dims=(16,)).eval()


def _images(seed: int, n: int = 5) -> Tensor:
    """(n, 1, 4, 4) binary images."""
    return (torch.rand(n, 1, 4, 4, generator=seeded(seed)) > 0.5).float()


@torch.no_grad()
def _log_terms(model: nn.Module, x: Tensor, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(log p(x|z), log p(z), log q(z|x)), each eps.shape[:-1], for z = mu + σ·eps with eps (..., B, D)."""
    mu, logvar = model.encode(x)  # (B, D)
    z = mu + torch.exp(0.5 * logvar) * eps  # (..., B, D)
    x_hat = model.decode(z.reshape(-1, z.shape[-1])).view(*z.shape[:-1], -1)  # (..., B, N)
    xf = x.flatten(1)  # (B, N)
    log_px_z = (xf * torch.log(x_hat).clamp(min=-100) + (1 - xf) * torch.log(1 - x_hat).clamp(min=-100)).sum(-1)
    log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
    log_qz = -0.5 * (eps.pow(2) + logvar + math.log(2 * math.pi)).sum(-1)
    return log_px_z, log_pz, log_qz


def reference_elbo(model: nn.Module, x: Tensor, eps: Tensor) -> Tensor:
    """(B,): log p(x|z) − KL(q(z|x) ‖ p(z)) with z = mu + σ·eps, in nats per image."""
    log_px_z, _, _ = _log_terms(model, x, eps)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)
    return log_px_z - kl


def reference_iw_bound(model: nn.Module, x: Tensor, eps: Tensor) -> Tensor:
    """(B,): logsumexp_k[log p(x|z_k) + log p(z_k) − log q(z_k|x)] − log K for eps (K, B, D)."""
    log_px_z, log_pz, log_qz = _log_terms(model, x, eps)
    return torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(eps.shape[0])


@register("elbo", assignment=ASSIGNMENT, function="elbo", points=2, forbidden=(*EVALUATORS, HERE + "reference_elbo"))
def check_elbo(elbo: Callable) -> None:
    model, x = _tiny_vae(0), _images(2)
    _, _, eps = _posterior(3, b=x.shape[0])
    for label, noise in (("a sampled z", eps), ("z = mu (eps = 0)", torch.zeros_like(eps))):
        with part(label):
            case = f"elbo(model, x, eps) with {label}, a small VAE and x of shape {tuple(x.shape)}"
            with torch.random.fork_rng(devices=[]):
                got = call(elbo, model, x.clone(), noise.clone(), case=case)
            expected = reference_elbo(model, x, noise)
            log_px_z, _, _ = _log_terms(model, x, noise)
            expect_tensor(got, expected, case=case, rtol=1e-4, atol=1e-4, hints=[
                matches(-expected, "the ELBO is log p(x|z) − KL, a negative number: not the loss, its negative."),
                matches(log_px_z, "subtract the KL term KL(q(z|x) ‖ p(z))."),
            ], shape_hint="return one value per image, shape (B,).")


@register("iw_bound", assignment=ASSIGNMENT, function="iw_bound", points=2,
          forbidden=(*EVALUATORS, *LOG_PROBS, HERE + "reference_iw_bound", HERE + "reference_elbo"))
def check_iw_bound(iw_bound: Callable) -> None:
    model, x = _tiny_vae(1), _images(4)
    for k in (1, 6):
        with part(f"K={k}"):
            eps = torch.randn(k, x.shape[0], 3, generator=seeded(5 + k))  # (K, B, D)
            case = f"iw_bound(model, x, eps) with K={k} samples, eps of shape {tuple(eps.shape)}"
            with torch.random.fork_rng(devices=[]):
                got = call(iw_bound, model, x.clone(), eps.clone(), case=case)
            expected = reference_iw_bound(model, x, eps)
            log_px_z, log_pz, log_qz = _log_terms(model, x, eps)
            log_w = log_px_z + log_pz - log_qz  # (K, B)
            expect_tensor(got, expected, case=case, rtol=1e-4, atol=1e-4, hints=[
                matches(log_w.mean(0), "that is the mean of the log-weights (the ELBO): take the log of the mean "
                                       "weight, torch.logsumexp(log_w, dim=0) − log K."),
                matches(torch.logsumexp(log_w, dim=0), "subtract log K: the bound averages the K weights."),
                matches(-expected, "return the bound on log p(x) (negative), not the NLL."),
            ], shape_hint="return one value per image, shape (B,).")


def reference_effective_beta(recon_reduction: str, kl_reduction: str, beta: float, x_shape: tuple[int, ...],
                             latent_dim: int) -> float:
    """The β of the summed ELBO that `recon(recon_reduction) + beta · kl(kl_reduction)` is proportional to."""
    b, n = x_shape[0], math.prod(x_shape[1:])
    scale = {"sum": lambda k: 1.0, "mean": lambda k: 1.0 / (b * k), "batchmean": lambda k: 1.0 / b}
    return beta * scale[kl_reduction](latent_dim) / scale[recon_reduction](n)


def _beta_cases() -> list[tuple[str, str, float, tuple[int, ...], int]]:
    if guard.variant() is None:
        return [("sum", "sum", 1.0, (128, 1, 28, 28), 20), ("mean", "sum", 1.0, (128, 1, 28, 28), 20),
                ("mean", "mean", 4.0, (64, 1, 28, 28), 10), ("batchmean", "batchmean", 2.0, (32, 3, 8, 8), 5),
                ("sum", "mean", 1.0, (100, 1, 28, 28), 16)]
    g = seeded(90)
    cases = []
    for recon in REDUCTIONS:
        for kl in REDUCTIONS:
            b, c, h = (int(torch.randint(lo, hi, (), generator=g)) for lo, hi in ((2, 300), (1, 4), (4, 40)))
            beta = round(float(torch.empty(()).uniform_(0.1, 10.0, generator=g)), 2)
            cases.append((recon, kl, beta, (b, c, h, h), int(torch.randint(2, 64, (), generator=g))))
    return cases


@register("effective_beta", assignment=ASSIGNMENT, function="effective_beta", points=2,
          forbidden=(HERE + "reference_effective_beta",))
def check_effective_beta(effective_beta: Callable) -> None:
    for recon, kl, beta, shape, d in _beta_cases():
        with part(f"recon {recon!r}, kl {kl!r}"):
            case = f"effective_beta({recon!r}, {kl!r}, beta={beta}, x_shape={shape}, latent_dim={d})"
            got = call(effective_beta, recon, kl, beta, shape, d, case=case)
            expected = reference_effective_beta(recon, kl, beta, shape, d)
            b, n = shape[0], math.prod(shape[1:])
            expect_number(got, expected, case=case, rtol=1e-6, hints=[
                scaled(1 / beta, "multiply by the beta of the loss you were given."),
                ((lambda g, e: abs(g.item() * e.item() - beta * beta) < 1e-6 * beta * beta and g.item() != e.item()),
                 "you have the ratio upside down: dividing the reconstruction by a number multiplies β by it."),
                ((lambda g, e, b=b, n=n: recon == "mean" and abs(g.item() - e.item() / n) < 1e-9 * e.item()),
                 f"'mean' averages over the batch *and* the {n} pixels: B·N elements."),
            ])
