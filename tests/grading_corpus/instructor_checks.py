"""An instructor's extra check, kept out of the student repository (here: a test fixture)."""

import torch

from vaecourse.checks import Mismatch, register


@register("kl_matches_torch", assignment="02_vae_objective", function="kl_divergence", points=1)
def kl_matches_torch(kl_divergence):
    g = torch.Generator().manual_seed(123)
    mu, logvar = torch.randn(64, 8, generator=g), torch.randn(64, 8, generator=g)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    expected = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum()
    got = kl_divergence(mu, logvar, reduction="sum")
    if not torch.allclose(got, expected, rtol=1e-4):
        raise Mismatch(f"on a batch of 64 with 8 latent dims: expected {expected.item():.5g}, got {got.item():.5g}.")
