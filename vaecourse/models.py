"""The course's models: nn.Modules only, no loss code.

Shapes: x (B, C, H, W) in [0, 1]; z, mu, logvar (B, latent_dim).
"""

from __future__ import annotations

import math
from dataclasses import asdict

import torch
from torch import Tensor, nn

from vaecourse.config import ModelConfig


def mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """The seed's deterministic autoencoder: input_dim-256-128-latent_dim, sigmoid output."""

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        latent_dim: int = 32,
        hidden_dims: tuple[int, ...] = (256, 128),
    ) -> None:
        super().__init__()
        self.config = ModelConfig("autoencoder", tuple(input_shape), latent_dim, tuple(hidden_dims))
        self.input_shape, self.latent_dim = tuple(input_shape), latent_dim
        input_dim = math.prod(input_shape)
        self.encoder = mlp((input_dim, *hidden_dims, latent_dim))
        self.decoder = nn.Sequential(mlp((latent_dim, *reversed(hidden_dims), input_dim)), nn.Sigmoid())

    def encode(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> z (B, latent_dim)."""
        return self.encoder(x.flatten(1))

    def decode(self, z: Tensor) -> Tensor:
        """z (B, latent_dim) -> x_hat (B, C, H, W) in [0, 1]."""
        return self.decoder(z).view(-1, *self.input_shape)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x -> (x_hat, z), as in the seed."""
        z = self.encode(x)
        return self.decode(z), z


class _GaussianEncoderVAE(nn.Module):
    """Shared VAE mechanics; subclasses set encoder_body, fc_mu, fc_logvar, decoder."""

    config: ModelConfig
    input_shape: tuple[int, ...]
    latent_dim: int

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, C, H, W) -> (mu, logvar), each (B, latent_dim)."""
        h = self.encoder_body(x)
        return self.fc_mu(h), self.fc_logvar(h)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        """z = mu + σ·ε with ε ~ N(0, I): a sample that gradients flow through. (B, D)."""
        eps = torch.randn_like(mu)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode_logits(self, z: Tensor) -> Tensor:
        """z (B, latent_dim) -> pre-sigmoid decoder output (B, C, H, W)."""
        return self.decoder(z).view(-1, *self.input_shape)

    def decode(self, z: Tensor) -> Tensor:
        """z (B, latent_dim) -> x_hat (B, C, H, W): Bernoulli means / Gaussian means in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x -> (x_hat, mu, logvar) with z sampled once, as in pytorch/examples."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


class VAE(_GaussianEncoderVAE):
    """MLP VAE, 784-400-20 by default (pytorch/examples); Bernoulli or Gaussian decoder."""

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        latent_dim: int = 20,
        hidden_dims: tuple[int, ...] = (400,),
    ) -> None:
        super().__init__()
        self.config = ModelConfig("vae", tuple(input_shape), latent_dim, tuple(hidden_dims))
        self.input_shape, self.latent_dim = tuple(input_shape), latent_dim
        input_dim = math.prod(input_shape)
        self.encoder_body = nn.Sequential(nn.Flatten(), mlp((input_dim, *hidden_dims)), nn.ReLU())
        self.fc_mu = nn.Linear(hidden_dims[-1], latent_dim)
        self.fc_logvar = nn.Linear(hidden_dims[-1], latent_dim)
        self.decoder = mlp((latent_dim, *reversed(hidden_dims), input_dim))


class GaussianVAE(VAE):
    """MLP VAE whose decoder is a Gaussian with learned log-variance logvar_x = log σ².

    learn_variance="scalar": one σ for every pixel; "pixel": one σ per pixel (C, H, W).
    decode(z) returns the Gaussian mean; use recon_loss_type="gaussian" with logvar_x.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        latent_dim: int = 20,
        hidden_dims: tuple[int, ...] = (400,),
        learn_variance: str = "scalar",
    ) -> None:
        super().__init__(input_shape, latent_dim, hidden_dims)
        if learn_variance not in ("scalar", "pixel"):
            raise ValueError(f"learn_variance must be 'scalar' or 'pixel', got {learn_variance!r}.")
        shape = () if learn_variance == "scalar" else tuple(input_shape)
        self.logvar_x = nn.Parameter(torch.zeros(shape))
        self.config = ModelConfig(
            "gaussian_vae", tuple(input_shape), latent_dim, tuple(hidden_dims), learn_variance
        )


class ConvVAE(_GaussianEncoderVAE):
    """Small convolutional VAE: two stride-2 convs down, two transposed convs up.

    H and W must be divisible by 4 (28x28 MNIST: 28 -> 14 -> 7).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        latent_dim: int = 20,
        hidden_dims: tuple[int, ...] = (32, 64, 256),
    ) -> None:
        super().__init__()
        if len(input_shape) != 3 or len(hidden_dims) != 3:
            raise ValueError(
                f"ConvVAE needs input_shape (C, H, W) and hidden_dims (conv1, conv2, fc); "
                f"got {input_shape} and {hidden_dims}."
            )
        c, h, w = input_shape
        if h % 4 or w % 4:
            raise ValueError(f"ConvVAE needs H and W divisible by 4, got {input_shape}.")
        self.config = ModelConfig("conv_vae", tuple(input_shape), latent_dim, tuple(hidden_dims))
        self.input_shape, self.latent_dim = tuple(input_shape), latent_dim
        c1, c2, fc = hidden_dims
        feat = c2 * (h // 4) * (w // 4)
        self.encoder_body = nn.Sequential(
            nn.Conv2d(c, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(feat, fc), nn.ReLU(),
        )
        self.fc_mu, self.fc_logvar = nn.Linear(fc, latent_dim), nn.Linear(fc, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, fc), nn.ReLU(), nn.Linear(fc, feat), nn.ReLU(),
            nn.Unflatten(1, (c2, h // 4, w // 4)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c1, c, 4, 2, 1),
        )


def is_vae(model: nn.Module) -> bool:
    """True for models whose encoder returns (mu, logvar)."""
    return isinstance(model, _GaussianEncoderVAE)


def build_model(config: ModelConfig) -> nn.Module:
    """A fresh, untrained model described by `config` (used to load checkpoints)."""
    args = (config.input_shape, config.latent_dim, config.hidden_dims)
    if config.kind == "autoencoder":
        return Autoencoder(*args)
    if config.kind == "conv_vae":
        return ConvVAE(*args)
    if config.kind == "gaussian_vae":
        return GaussianVAE(*args, learn_variance=config.learn_variance)
    return VAE(*args)


def model_config_dict(model: nn.Module) -> dict:
    """The model's ModelConfig as a plain dict (safe to store in a weights_only checkpoint)."""
    return asdict(model.config)
