"""vaecourse.models: the seeds' and pytorch/examples' architectures, shapes, sampling, rebuilding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vaecourse.config import ModelConfig
from vaecourse.models import (
    VAE,
    Autoencoder,
    ConvVAE,
    GaussianVAE,
    build_model,
    is_vae,
    model_config_dict,
)

DIGITS = (1, 8, 8)  # sklearn's load_digits images


def _linear_shapes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def _copy_linears(source: nn.Module, target: nn.Module) -> None:
    """Copy Linear weights in module order (the architectures must match layer for layer)."""
    src = [m for m in source.modules() if isinstance(m, nn.Linear)]
    dst = [m for m in target.modules() if isinstance(m, nn.Linear)]
    assert len(src) == len(dst)
    with torch.no_grad():
        for a, b in zip(src, dst):
            b.weight.copy_(a.weight)
            b.bias.copy_(a.bias)


# The seed's model (002_…), verbatim apart from the docstring: the oracle for Autoencoder.
class AutoencoderWithAnalysis(nn.Module):
    def __init__(self, input_dim=784, latent_dim=32):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Linear(input_dim, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 128), nn.ReLU(), nn.Linear(128, 256), nn.ReLU(),
            nn.Linear(256, input_dim), nn.Sigmoid()
        )

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        z = self.encode(x)
        return self.decode(z), z


# pytorch/examples vae/main.py's model: the oracle for VAE's defaults.
class ExamplesVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# --- the reference architectures ----------------------------------------------------------------

def test_autoencoder_has_the_seeds_layers():
    model = Autoencoder(latent_dim=32)
    assert _linear_shapes(model.encoder) == [(784, 256), (256, 128), (128, 32)]
    assert _linear_shapes(model.decoder) == [(32, 128), (128, 256), (256, 784)]
    assert isinstance(list(model.decoder.modules())[-1], nn.Sigmoid)


def test_autoencoder_computes_the_seeds_function():
    torch.manual_seed(0)
    seed_model, model = AutoencoderWithAnalysis(latent_dim=16), Autoencoder(latent_dim=16)
    _copy_linears(seed_model, model)
    x = torch.rand(4, 1, 28, 28)
    x_hat, z = model(x)
    seed_x_hat, seed_z = seed_model(x.view(4, -1))
    assert x_hat.shape == (4, 1, 28, 28) and z.shape == (4, 16)
    torch.testing.assert_close(z, seed_z)
    torch.testing.assert_close(x_hat.flatten(1), seed_x_hat)


def test_vae_defaults_are_pytorch_examples_784_400_20():
    torch.manual_seed(0)
    examples, model = ExamplesVAE(), VAE()
    assert model.latent_dim == 20
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in examples.parameters())
    assert _linear_shapes(model) == [(784, 400), (400, 20), (400, 20), (20, 400), (400, 784)]
    _copy_linears(examples, model)  # fc1, fc21, fc22, fc3, fc4 in that order
    x = torch.rand(3, 1, 28, 28)
    for got, want in zip(model.encode(x), examples.encode(x.view(3, -1))):
        torch.testing.assert_close(got, want)
    z = torch.randn(3, 20)
    torch.testing.assert_close(model.decode(z).flatten(1), examples.decode(z))
    torch.manual_seed(1)
    ours = model(x)
    torch.manual_seed(1)
    theirs = examples(x)
    torch.testing.assert_close(ours[0].flatten(1), theirs[0])  # same ε, same sample


def test_hidden_dims_and_sizes_come_from_the_constructor():
    model = VAE(input_shape=(3, 5, 7), latent_dim=6, hidden_dims=(48, 24))
    assert _linear_shapes(model) == [(105, 48), (48, 24), (24, 6), (24, 6), (6, 24), (24, 48), (48, 105)]
    autoencoder = Autoencoder(DIGITS, latent_dim=2, hidden_dims=(32,))
    assert _linear_shapes(autoencoder) == [(64, 32), (32, 2), (2, 32), (32, 64)]


# --- shapes -------------------------------------------------------------------------------------

VAE_FACTORIES = {
    "vae": lambda shape, d: VAE(shape, d, (32,)),
    "conv_vae": lambda shape, d: ConvVAE(shape, d, (4, 8, 32)),
    "gaussian_vae_scalar": lambda shape, d: GaussianVAE(shape, d, (32,), "scalar"),
    "gaussian_vae_pixel": lambda shape, d: GaussianVAE(shape, d, (32,), "pixel"),
}


@pytest.mark.parametrize("kind", sorted(VAE_FACTORIES))
@pytest.mark.parametrize("input_shape, latent_dim", [(DIGITS, 2), ((3, 12, 16), 5), ((1, 28, 28), 20)])
def test_vae_shapes_follow_input_shape_and_latent_dim(kind, input_shape, latent_dim):
    model = VAE_FACTORIES[kind](input_shape, latent_dim)
    x = torch.rand(6, *input_shape)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (6, latent_dim)
    assert model.decode_logits(mu).shape == (6, *input_shape)
    x_hat, mu_f, logvar_f = model(x)
    assert x_hat.shape == x.shape and mu_f.shape == logvar_f.shape == (6, latent_dim)
    assert model.config.input_shape == input_shape and model.config.latent_dim == latent_dim


@pytest.mark.parametrize("input_shape, latent_dim", [(DIGITS, 2), ((3, 10, 10), 7)])
def test_autoencoder_shapes_follow_input_shape_and_latent_dim(input_shape, latent_dim):
    model = Autoencoder(input_shape, latent_dim)
    x_hat, z = model(torch.rand(4, *input_shape))
    assert x_hat.shape == (4, *input_shape) and z.shape == (4, latent_dim)


@pytest.mark.parametrize("learn_variance, shape", [("scalar", ()), ("pixel", DIGITS)])
def test_gaussian_vae_learns_logvar_x_of_the_right_shape(learn_variance, shape):
    model = GaussianVAE(DIGITS, 2, (16,), learn_variance)
    assert isinstance(model.logvar_x, nn.Parameter) and model.logvar_x.shape == shape
    assert any(p is model.logvar_x for p in model.parameters())  # the optimiser will see it
    assert (model.logvar_x == 0).all()  # starts at σ = 1
    assert model.config.learn_variance == learn_variance


def test_gaussian_vae_rejects_an_unknown_variance_kind():
    with pytest.raises(ValueError, match="'scalar' or 'pixel'.*'none'"):
        GaussianVAE(DIGITS, 2, (16,), learn_variance="none")


def test_is_vae_tells_the_models_apart():
    assert not is_vae(Autoencoder(DIGITS, 2))
    assert all(is_vae(make(DIGITS, 2)) for make in VAE_FACTORIES.values())


# --- reparameterize, decode ---------------------------------------------------------------------

def test_reparameterize_is_differentiable_in_mu_and_logvar():
    torch.manual_seed(0)
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    z = VAE.reparameterize(mu, logvar)
    (z * torch.arange(1.0, 4.0)).sum().backward()
    eps = ((z - mu) / torch.exp(0.5 * logvar)).detach()
    torch.testing.assert_close(mu.grad, torch.arange(1.0, 4.0).expand(4, 3))  # dz/dμ = 1
    dz_dlogvar = 0.5 * torch.exp(0.5 * logvar.detach()) * eps
    torch.testing.assert_close(logvar.grad, torch.arange(1.0, 4.0) * dz_dlogvar)


def test_reparameterize_samples_have_the_posterior_mean_and_variance():
    torch.manual_seed(0)
    n = 200_000
    mean = torch.tensor([1.0, -2.0, 0.0])
    variance = torch.tensor([4.0, 0.25, 1.0])
    z = VAE.reparameterize(mean.expand(n, 3), variance.log().expand(n, 3))  # (n, 3)
    mean_stderr = (variance / n).sqrt()
    variance_stderr = variance * math.sqrt(2 / n)  # of a Gaussian sample variance
    assert ((z.mean(0) - mean).abs() < 4 * mean_stderr).all()
    assert ((z.var(0) - variance).abs() < 4 * variance_stderr).all()
    assert abs(torch.corrcoef(z.T)[0, 1]) < 4 / math.sqrt(n)  # independent dimensions


def test_reparameterize_draws_fresh_noise_each_call():
    mu, logvar = torch.zeros(2, 4), torch.zeros(2, 4)
    assert not torch.equal(VAE.reparameterize(mu, logvar), VAE.reparameterize(mu, logvar))


@pytest.mark.parametrize("kind", sorted(VAE_FACTORIES))
def test_decode_is_the_sigmoid_of_decode_logits_and_stays_in_unit_interval(kind):
    torch.manual_seed(0)
    model = VAE_FACTORIES[kind](DIGITS, 3)
    z = 100 * torch.randn(8, 3)  # far outside the prior: saturates the sigmoid
    x_hat = model.decode(z)
    torch.testing.assert_close(x_hat, torch.sigmoid(model.decode_logits(z)))
    assert torch.isfinite(x_hat).all() and x_hat.min() >= 0 and x_hat.max() <= 1


def test_autoencoder_decode_stays_in_unit_interval():
    torch.manual_seed(0)
    x_hat = Autoencoder(DIGITS, 3).decode(100 * torch.randn(8, 3))
    assert x_hat.shape == (8, *DIGITS) and x_hat.min() >= 0 and x_hat.max() <= 1


# --- rebuilding from a config -------------------------------------------------------------------

REBUILDABLE = {
    "autoencoder": lambda: Autoencoder(DIGITS, 3, (40, 20)),
    "vae": lambda: VAE((1, 6, 6), 4, (30, 10)),
    "conv_vae": lambda: ConvVAE((2, 8, 12), 3, (4, 8, 16)),
    "gaussian_vae_scalar": lambda: GaussianVAE(DIGITS, 2, (24,), "scalar"),
    "gaussian_vae_pixel": lambda: GaussianVAE(DIGITS, 2, (24,), "pixel"),
}


@pytest.mark.parametrize("kind", sorted(REBUILDABLE))
def test_build_model_from_the_config_rebuilds_the_same_model(kind):
    torch.manual_seed(0)
    model = REBUILDABLE[kind]()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # "trained" weights that a fresh model lacks
    rebuilt = build_model(model.config)
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    assert ModelConfig(**model_config_dict(model)) == model.config
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    x = torch.rand(3, *model.config.input_shape)
    torch.testing.assert_close(rebuilt.encode(x), model.encode(x))
    z = torch.randn(3, model.config.latent_dim)
    torch.testing.assert_close(rebuilt.decode(z), model.decode(z))


def test_build_model_honours_a_handwritten_config():
    config = ModelConfig("gaussian_vae", DIGITS, latent_dim=2, hidden_dims=(16,), learn_variance="pixel")
    model = build_model(config)
    assert isinstance(model, GaussianVAE) and model.logvar_x.shape == DIGITS
    assert model.config == config


# --- bad shapes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("input_shape, hidden_dims, words", [
    ((1, 28, 30), (32, 64, 256), ["divisible by 4", "(1, 28, 30)"]),
    ((1, 10, 8), (32, 64, 256), ["divisible by 4"]),
    ((28, 28), (32, 64, 256), ["(C, H, W)", "(28, 28)"]),
    ((1, 28, 28), (400,), ["hidden_dims", "(conv1, conv2, fc)", "(400,)"]),
])
def test_conv_vae_explains_a_bad_shape(input_shape, hidden_dims, words):
    with pytest.raises(ValueError) as info:
        ConvVAE(input_shape, 4, hidden_dims)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_conv_vae_from_the_default_model_config_explains_its_hidden_dims():
    with pytest.raises(ValueError, match="hidden_dims"):
        build_model(ModelConfig(kind="conv_vae"))  # ModelConfig's default hidden_dims is the MLP's (400,)
