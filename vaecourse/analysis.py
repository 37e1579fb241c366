"""Small latent-space computations shared by notebooks, widgets and checks."""

from __future__ import annotations

import math

import torch
from torch import Tensor

INFORMATIVE_NATS = 0.1  # a latent dimension carries information when its KL exceeds this (nats)


def lerp(z0: Tensor, z1: Tensor, alphas: Tensor) -> Tensor:
    """Straight line (1-α)·z0 + α·z1 for each α: z0, z1 (D,), alphas (T,) -> (T, D)."""
    alphas = alphas.reshape(-1, 1).to(z0)
    return (1 - alphas) * z0 + alphas * z1


def slerp(z0: Tensor, z1: Tensor, alphas: Tensor) -> Tensor:
    """Spherical interpolation along the great circle between z0 and z1 (D,) -> (T, D).

    Keeps the norm near that of typical prior samples, where a straight line would pass
    through the low-density centre of N(0, I). Falls back to lerp for (anti)parallel vectors.
    """
    alphas = alphas.reshape(-1, 1).to(z0)
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if float(torch.sin(omega).abs()) < 1e-6:
        return lerp(z0, z1, alphas)
    return (torch.sin((1 - alphas) * omega) * z0 + torch.sin(alphas * omega) * z1) / torch.sin(omega)


def class_means(z: Tensor, labels: Tensor, n_classes: int | None = None) -> Tensor:
    """Mean latent vector of each class: z (N, D), labels (N,) -> (n_classes, D)."""
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    sums = torch.zeros(n_classes, z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, labels, z)
    counts = torch.bincount(labels, minlength=n_classes).clamp_min(1).to(z.dtype)
    return sums / counts[:, None]


def find_elbow(dims: list[int] | Tensor, errors: list[float] | Tensor) -> int:
    """The dimension where error-vs-dimension bends most (the "elbow").

    Kneedle-style: on log2(dims) and errors both rescaled to [0, 1], the point farthest
    below the straight line from the first point to the last.
    """
    x = torch.tensor([math.log2(d) for d in dims], dtype=torch.float64)
    y = torch.as_tensor(errors, dtype=torch.float64).cpu()
    if x.numel() != y.numel() or x.numel() < 3:
        raise ValueError("find_elbow needs at least 3 (dim, error) pairs of equal length.")
    x = (x - x[0]) / (x[-1] - x[0])
    y = (y - y.min()) / (y.max() - y.min()).clamp_min(1e-12)
    line = y[0] + (y[-1] - y[0]) * x
    return int(list(dims)[int(torch.argmax(line - y))])


def active_units(mu: Tensor, threshold: float = 0.01) -> int:
    """Latent dims whose posterior mean varies across the data: Var_x(mu_j) > threshold. mu (N, D)."""
    return int((mu.var(dim=0) > threshold).sum())
