"""vaecourse.config: frozen, validated dataclasses whose vocabularies match the code that uses them."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vaecourse.config import (
    BETA_SCHEDULES,
    MODEL_KINDS,
    RECON_LOSS_TYPES,
    REDUCTIONS,
    BetaSchedule,
    LossConfig,
    ModelConfig,
    TrainConfig,
)
from vaecourse.losses import NLL_CONSTANT_PER_ELEMENT, beta_at, reduce_loss
from vaecourse.models import build_model


def test_defaults_are_the_seeds_and_pytorch_examples():
    loss = LossConfig()
    assert loss.recon_loss_type == "bce" and loss.free_bits == 0.0 and not loss.normalized
    assert [beta_at(loss.beta, t) for t in (0, 10, 1000)] == [1.0, 1.0, 1.0]  # plain ELBO
    model = ModelConfig()
    assert (model.kind, model.input_shape, model.latent_dim) == ("vae", (1, 28, 28), 20)
    assert model.hidden_dims == (400,)
    train = TrainConfig()
    assert train.lr == 1e-3 and train.device is None and not train.binarize


@pytest.mark.parametrize("config, field", [
    (BetaSchedule(), "beta_max"),
    (LossConfig(), "free_bits"),
    (TrainConfig(), "lr"),
    (ModelConfig(), "latent_dim"),
])
def test_configs_are_frozen_and_overridden_with_replace(config, field):
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, field, 2)
    changed = dataclasses.replace(config, **{field: 2})
    assert getattr(changed, field) == 2 and getattr(config, field) != 2
    assert changed != config and dataclasses.replace(config) == config
    assert len({config, dataclasses.replace(config)}) == 1  # hashable: usable as a cache key


def test_replace_validates_again():
    with pytest.raises(ValueError, match="free_bits"):
        dataclasses.replace(LossConfig(), free_bits=-1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        dataclasses.replace(BetaSchedule(), kind="linear")


@pytest.mark.parametrize("make, words", [
    (lambda: BetaSchedule(kind="exponential"), ["Unknown beta schedule", "'exponential'", "cyclical"]),
    (lambda: BetaSchedule(beta_max=-0.5), ["beta_max", ">= 0", "-0.5"]),
    (lambda: BetaSchedule("linear", warmup_steps=0), ["linear", "warmup_steps > 0"]),
    (lambda: BetaSchedule("cyclical", cycle_steps=0), ["cyclical", "cycle_steps > 0"]),
    (lambda: BetaSchedule("cyclical", cycle_steps=10, ratio=0.0), ["0 < ratio <= 1"]),
    (lambda: BetaSchedule("cyclical", cycle_steps=10, ratio=1.5), ["0 < ratio <= 1"]),
    (lambda: LossConfig("cross_entropy"), ["Unknown recon_loss_type", "'cross_entropy'", "mse"]),
    (lambda: LossConfig(free_bits=-0.1), ["free_bits", ">= 0", "nats"]),
    (lambda: TrainConfig(epochs=0), ["epochs", ">= 1"]),
    (lambda: TrainConfig(batch_size=0), ["batch_size", ">= 1"]),
    (lambda: TrainConfig(lr=0.0), ["lr must be > 0"]),
    (lambda: ModelConfig(kind="gan"), ["Unknown model kind", "'gan'", "conv_vae"]),
    (lambda: ModelConfig(latent_dim=0), ["latent_dim", ">= 1"]),
])
def test_each_invalid_setting_raises_a_helpful_value_error(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_a_bare_number_for_beta_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"BetaSchedule\(beta_max=4.0\)"):
        LossConfig(beta=4.0)


@pytest.mark.parametrize("schedule", [
    BetaSchedule("constant", beta_max=0.0),
    BetaSchedule("linear", beta_max=4.0, warmup_steps=1),
    BetaSchedule("cyclical", cycle_steps=1, ratio=1.0),
])
def test_boundary_settings_are_valid(schedule):
    assert schedule.kind in BETA_SCHEDULES
    assert 0.0 <= beta_at(schedule, 1) <= schedule.beta_max


def test_vocabularies_match_the_code_that_uses_them():
    assert set(RECON_LOSS_TYPES) == set(NLL_CONSTANT_PER_ELEMENT)
    for reduction in REDUCTIONS:  # every advertised reduction is accepted ...
        reduce_loss(torch.ones(2, 3), reduction)
    with pytest.raises(ValueError):  # ... and nothing else
        reduce_loss(torch.ones(2, 3), "avg")
    assert "batchmean" in REDUCTIONS  # what the trainer reports


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_model_kind_can_be_built(kind):
    extra = {
        "conv_vae": {"hidden_dims": (4, 8, 16)},
        "gaussian_vae": {"learn_variance": "pixel"},
    }.get(kind, {})
    config = ModelConfig(kind=kind, input_shape=(1, 8, 8), latent_dim=2, **extra)
    assert build_model(config).config == config
