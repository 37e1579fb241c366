"""Train many MLP VAEs at once: M members stacked along a leading dimension.

Each member m is an ordinary `VAE(input_shape, latent_dims[m], (hidden,))` with its own β.
Members share each data batch but nothing else: Adam is elementwise, so one optimiser over
the stacked parameters is M independent optimisers. Smaller latent sizes are a mask over
the largest one (masked dims carry z = 0 and no KL), and are sliced out when exported.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vaecourse.losses import elementwise_recon_nll, kl_divergence_per_dim
from vaecourse.models import VAE
from vaecourse.runtime import progress_bar
from vaecourse.train import make_adam


class StackedVAE(nn.Module):
    """M one-hidden-layer VAEs in one module. x (B, C, H, W) -> per-member tensors (M, B, ...)."""

    def __init__(self, input_shape: tuple[int, ...], latent_dims: list[int], hidden: int) -> None:
        super().__init__()
        self.input_shape, self.hidden = tuple(input_shape), hidden
        self.latent_dims = list(latent_dims)
        m, d, k = len(latent_dims), math.prod(input_shape), max(latent_dims)
        self.register_buffer("mask", (torch.arange(k) < torch.tensor(latent_dims)[:, None]).float())
        # Initialise exactly like nn.Linear, member by member: uniform(±1/sqrt(fan_in)).
        self.enc_w = _uniform((d, m, hidden), d)  # (D, M, H): x @ view(D, M·H) is one GEMM
        self.enc_b = _uniform((m, hidden), d)
        self.mu_w, self.mu_b = _uniform((m, hidden, k), hidden), _uniform((m, k), hidden)
        self.lv_w, self.lv_b = _uniform((m, hidden, k), hidden), _uniform((m, k), hidden)
        self.dec1_w, self.dec1_b = _uniform((m, k, hidden), k), _uniform((m, hidden), k)
        self.dec2_w, self.dec2_b = _uniform((m, hidden, d), hidden), _uniform((m, d), hidden)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, C, H, W) -> mu, logvar (M, B, K); masked dims are mu = 0, logvar = 0."""
        m, h = self.enc_b.shape
        pre = (x.flatten(1) @ self.enc_w.view(-1, m * h)).view(-1, m, h) + self.enc_b  # (B, M, H)
        hid = torch.relu(pre).transpose(0, 1)  # (M, B, H)
        mask = self.mask[:, None]  # (M, 1, K)
        mu = torch.baddbmm(self.mu_b[:, None], hid, self.mu_w) * mask
        logvar = torch.baddbmm(self.lv_b[:, None], hid, self.lv_w) * mask
        return mu, logvar

    def reparameterize(self, mu: Tensor, logvar: Tensor) -> Tensor:
        """z = (mu + σ·ε)·mask, (M, B, K): masked dims stay exactly 0."""
        return (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)) * self.mask[:, None]

    def decode_logits(self, z: Tensor) -> Tensor:
        """z (M, B, K) -> logits (M, B, D)."""
        hid = torch.relu(torch.baddbmm(self.dec1_b[:, None], z, self.dec1_w))
        return torch.baddbmm(self.dec2_b[:, None], hid, self.dec2_w)

    def export(self, member: int) -> VAE:
        """Member `member` as a standalone `VAE` with its own latent size."""
        k = self.latent_dims[member]
        vae = VAE(self.input_shape, k, (self.hidden,))
        w = {
            "encoder_body.1.0.weight": self.enc_w[:, member].T,
            "encoder_body.1.0.bias": self.enc_b[member],
            "fc_mu.weight": self.mu_w[member, :, :k].T, "fc_mu.bias": self.mu_b[member, :k],
            "fc_logvar.weight": self.lv_w[member, :, :k].T, "fc_logvar.bias": self.lv_b[member, :k],
            "decoder.0.weight": self.dec1_w[member, :k].T, "decoder.0.bias": self.dec1_b[member],
            "decoder.2.weight": self.dec2_w[member].T, "decoder.2.bias": self.dec2_b[member],
        }
        vae.load_state_dict({name: t.detach().clone() for name, t in w.items()})
        return vae.eval()


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    bound = 1 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


def stacked_losses(model: StackedVAE, x: Tensor, betas: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-member (total, recon, kl), each (M,), in nats per example; BCE on logits, β per member."""
    mu, logvar = model.encode(x)
    logits = model.decode_logits(model.reparameterize(mu, logvar))  # (M, B, D)
    target = x.flatten(1).expand_as(logits)
    recon = elementwise_recon_nll(logits, target, "bce", logits=True).sum(-1).mean(-1)  # (M,)
    kl = kl_divergence_per_dim(mu, logvar).sum(-1).mean(-1)  # (M,)
    return recon + betas * kl, recon, kl


def train_stacked(
    model: StackedVAE,
    x_train: Tensor,
    betas: list[float],
    *,
    epochs: int = 2,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[list[float]]:
    """Train every member at once on x_train (N, C, H, W) in [0, 1]; β per member.

    Returns the mean training loss of each epoch per member (nats per image), (epochs, M).
    Runs on the device the model is on; the data goes there once.
    """
    device = model.mask.device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    torch.manual_seed(seed)
    x_train = x_train.to(device, torch.float32)
    beta_t = torch.tensor(betas, device=device)
    optimizer = make_adam(model, lr)
    n, steps = x_train.shape[0], math.ceil(x_train.shape[0] / batch_size)
    history = []
    bar = progress_bar(epochs * steps, enabled=progress, desc="model bank")
    for _ in range(epochs):
        epoch_total = torch.zeros(len(betas), device=device)
        order = torch.randperm(n, generator=generator).to(device)
        for i in range(steps):
            total, _, _ = stacked_losses(model, x_train[order[i * batch_size:(i + 1) * batch_size]], beta_t)
            optimizer.zero_grad(set_to_none=True)
            total.sum().backward()  # members are independent: the sum's gradient is each member's
            optimizer.step()
            epoch_total += total.detach()
            bar.update(1)
        history.append((epoch_total / steps).cpu().tolist())
    bar.close()
    return history
