"""Models and estimators for notebook 05: an autoregressive-decoder VAE, its trainer, and I(x; z).

Shapes: x (B, 1, H, W) binary; z, mu, logvar (B, D). Losses in nats per image (summed over pixels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaecourse import runtime
from vaecourse.config import BetaSchedule
from vaecourse.losses import beta_at, kl_divergence_per_dim, vae_loss
from vaecourse.models import GaussianVAE
from vaecourse.train import make_adam


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only pixels above and to the left (PixelCNN, van den Oord et al. 2016).

    mask "A" also hides the centre pixel (first layer: a pixel may not see itself); "B" keeps it.
    """

    def __init__(self, mask: str, c_in: int, c_out: int, kernel_size: int) -> None:
        if mask not in ("A", "B"):
            raise ValueError(f"mask must be 'A' or 'B', got {mask!r}.")
        super().__init__(c_in, c_out, kernel_size, padding=kernel_size // 2)
        k = kernel_size // 2
        m = torch.ones_like(self.weight)  # (c_out, c_in, k, k)
        m[:, :, k, k + (mask == "B"):] = 0  # the centre row: right of (or from) the centre
        m[:, :, k + 1:] = 0  # every row below the centre
        self.register_buffer("mask", m)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelVAE(nn.Module):
    """MLP encoder; decoder p(x|z) = Π_i p(x_i | x_<i, z): masked convolutions over x, conditioned on z.

    layers > 0: z enters every masked layer as a per-channel bias (a conditional PixelCNN).
    layers = 0: no masked convolutions, the logits are mlp(z): an ordinary VAE decoder, blind to x_<i.
    """

    def __init__(self, input_shape: tuple[int, ...] = (1, 14, 14), latent_dim: int = 8, channels: int = 16,
                 layers: int = 3, kernel_size: int = 5, hidden: int = 128) -> None:
        super().__init__()
        c, h, w = input_shape
        self.input_shape, self.latent_dim, self.layers = tuple(input_shape), latent_dim, layers
        self.encoder_body = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU())
        self.fc_mu, self.fc_logvar = nn.Linear(hidden, latent_dim), nn.Linear(hidden, latent_dim)
        self.from_z = None if layers else nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                                                        nn.Linear(hidden, c * h * w))
        self.z_bias = nn.Linear(latent_dim, channels) if layers else None
        self.first = MaskedConv2d("A", c, channels, kernel_size) if layers else None
        self.body = nn.ModuleList(MaskedConv2d("B", channels, channels, 3) for _ in range(max(layers - 1, 0)))
        self.out = nn.Conv2d(channels, c, 1)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, C, H, W) -> (mu, logvar), each (B, D)."""
        h = self.encoder_body(x)
        return self.fc_mu(h), self.fc_logvar(h)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        """z = mu + σ·ε, ε ~ N(0, I). (B, D)."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def logits(self, z: Tensor, x: Tensor) -> Tensor:
        """Logits of p(x_i = 1 | x_<i, z) for every pixel at once (teacher forcing): (B, C, H, W)."""
        if self.first is None:
            return self.from_z(z).view(-1, *self.input_shape)  # (B, C, H, W)
        bias = self.z_bias(z)[:, :, None, None]  # (B, channels, 1, 1)
        h = torch.relu(self.first(x) + bias)
        for conv in self.body:
            h = torch.relu(h + conv(h) + bias)
        return self.out(h)

    @torch.no_grad()
    def sample(self, z: Tensor) -> Tensor:
        """Draw x ~ p(x|z) pixel by pixel in raster order: (B, C, H, W) in {0, 1}. One pass per pixel."""
        z = z.to(runtime.model_device(self))
        x = torch.zeros(z.shape[0], *self.input_shape, device=z.device)
        _, h, w = self.input_shape
        for i in range(h * w if self.layers else 1):
            probs = torch.sigmoid(self.logits(z, x))
            if not self.layers:
                return torch.bernoulli(probs).cpu()
            r, c = divmod(i, w)
            x[:, :, r, c] = torch.bernoulli(probs[:, :, r, c])
        return x.cpu()


@torch.no_grad()
def evaluate_pixel_vae(model: PixelVAE, x: Tensor, *, seed: int = 0, active_threshold: float = 0.01) -> dict:
    """−ELBO, recon, KL (nats per image), KL per dim, active units and I(x; z) on binary x (N, C, H, W).

    One z ~ q(z|x) per image, as in train.evaluate; computed where the model is, returned as Python numbers.
    """
    dev = runtime.model_device(model)
    was_training = model.training
    model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        xb = x.to(dev, torch.float32)
        mu, logvar = model.encode(xb)
        eps = torch.randn(mu.shape).to(dev)  # drawn on the CPU: the same noise on every device
        logits = model.logits(mu + torch.exp(0.5 * logvar) * eps, xb)
        recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="none").flatten(1).sum(1).mean()
        kl_dims = kl_divergence_per_dim(mu, logvar).mean(0).cpu()  # (D,)
    model.train(was_training)
    mu, logvar = mu.cpu(), logvar.cpu()
    return {"neg_elbo": float(recon) + float(kl_dims.sum()), "recon": float(recon), "kl": float(kl_dims.sum()),
            "kl_per_dim": kl_dims.tolist(), "active_units": int((mu.var(0) > active_threshold).sum()),
            "mutual_information": mutual_information(mu, logvar, seed=seed)}


def fit_pixel_vae(model: PixelVAE, x_train: Tensor, *, epochs: int = 2, beta: BetaSchedule = BetaSchedule(),
                  free_bits: float = 0.0, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                  progress: bool = False) -> list[float]:
    """Train on binary x_train (N, C, H, W) on runtime.device(); the model goes back where it was.

    The loss is losses.vae_loss (BCE from logits, β from the schedule, optional free bits per dimension).
    Returns the training −ELBO (β = 1) of every step, nats per image.
    """
    dev = runtime.device()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    steps, trace = math.ceil(len(x_train) / batch_size), []
    bar = runtime.progress_bar(epochs * steps, enabled=progress)
    with runtime.on_device(model, dev):
        model.train()
        optimizer = make_adam(model, lr)
        step = 0
        for _ in range(epochs):
            for batch in torch.randperm(len(x_train), generator=gen).split(batch_size):
                xb = x_train[batch].to(dev)
                mu, logvar = model.encode(xb)
                logits = model.logits(model.reparameterize(mu, logvar), xb)
                total, recon, kl = vae_loss(logits, xb, mu, logvar, beta_at(beta, step), logits=True,
                                            reduction="batchmean", free_bits=free_bits, validate_args=False)
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                trace.append(float((recon + kl).detach()))
                step += 1
                bar.update(1)
        model.eval()
    bar.close()
    return trace


@torch.no_grad()
def mutual_information(mu: Tensor, logvar: Tensor, n_samples: int = 1, seed: int = 0) -> float:
    """I_q(x; z) in nats from posteriors (N, D) of N images: E_x KL(q(z|x)||p(z)) − KL(q(z)||p(z)).

    Estimated as E[log q(z|x)] − E[log q(z)], z ~ q(z|x), with q(z) = (1/N) Σ_n q(z|x_n) (Hoffman & Johnson
    2016; He et al. 2019). At most log N: N images can carry no more than log N nats about which one it is.
    """
    mu, logvar = mu.detach().cpu().double(), logvar.detach().cpu().double()
    gen = torch.Generator().manual_seed(seed)
    var = logvar.exp()
    total = 0.0
    for _ in range(n_samples):
        z = mu + var.sqrt() * torch.randn(mu.shape, generator=gen, dtype=mu.dtype)  # (N, D)
        log_q_own = (-0.5 * ((z - mu) ** 2 / var + logvar + math.log(2 * math.pi))).sum(1)  # (N,)
        log_q_all = torch.stack([(-0.5 * ((zi - mu) ** 2 / var + logvar + math.log(2 * math.pi))).sum(1)
                                 for zi in z])  # (N, N): log q(z_i | x_n)
        log_q_agg = torch.logsumexp(log_q_all, dim=1) - math.log(len(mu))  # (N,)
        total += float((log_q_own - log_q_agg).mean())
    return total / n_samples


class FlooredGaussianVAE(GaussianVAE):
    """GaussianVAE whose per-pixel decoder variance cannot fall below min_sigma: logvar_x ≥ 2·log(min_sigma).

    The floor is a clamp, so a pixel that reaches it stops there (its gradient is 0) instead of running away.
    """

    def __init__(self, input_shape: tuple[int, ...] = (1, 28, 28), latent_dim: int = 20,
                 hidden_dims: tuple[int, ...] = (400,), min_sigma: float = 0.05) -> None:
        super().__init__(input_shape, latent_dim, hidden_dims, learn_variance="pixel")
        if not min_sigma > 0:
            raise ValueError(f"min_sigma must be > 0, got {min_sigma}.")
        self.free_logvar_x = self._parameters.pop("logvar_x")  # (C, H, W): the learned values, before the floor
        self.min_logvar = 2.0 * math.log(min_sigma)

    @property
    def logvar_x(self) -> Tensor:
        """log σ² per pixel (C, H, W), floored at 2·log(min_sigma)."""
        return self.free_logvar_x.clamp(min=self.min_logvar)
