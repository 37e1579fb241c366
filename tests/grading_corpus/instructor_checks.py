"""An instructor's extra check, kept out of the student repository (here: a test fixture).

`call` runs the learner's function with what `forbidden` names poisoned (a call scores 0), and
`seeded` draws different inputs for the grader's hidden variant.
"""

import torch

from vaecourse.checks import Mismatch, register
from vaecourse.checks.core import call, seeded


@register("kl_matches_torch", assignment="02_vae_objective", function="kl_divergence", points=1,
          forbidden=("vaecourse.losses.kl_divergence", "torch.distributions.kl.kl_divergence"))
def kl_matches_torch(kl_divergence):
    g = seeded(123)
    mu, logvar = torch.randn(64, 8, generator=g), torch.randn(64, 8, generator=g)
    got = call(kl_divergence, mu, logvar, reduction="sum", case="a batch of 64 with 8 latent dims")
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    expected = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum()
    if not isinstance(got, torch.Tensor) or not torch.allclose(got, expected, rtol=1e-4):
        raise Mismatch(f"on a batch of 64 with 8 latent dims: expected {expected.item():.5g}, got {got}.")
