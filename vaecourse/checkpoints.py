"""Save a trained model with everything needed to rebuild it; load it back safely.

A checkpoint holds only tensors and plain Python values, so it loads with
`torch.load(weights_only=True)`: opening a checkpoint from someone else runs no code.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from vaecourse import __version__
from vaecourse.config import BetaSchedule, LossConfig, ModelConfig, TrainConfig
from vaecourse.models import build_model, model_config_dict
from vaecourse.train import History

FORMAT = "vaecourse-checkpoint-1"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (eval mode) and what it was trained with."""

    model: nn.Module
    train_config: TrainConfig | None
    loss_config: LossConfig | None
    history: History | None
    vaecourse_version: str


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    train_config: TrainConfig | None = None,
    loss_config: LossConfig | None = None,
    history: History | None = None,
) -> Path:
    """Write model weights + ModelConfig (+ optional configs and history) to `path`; returns it."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "vaecourse_version": __version__,
        "model_config": model_config_dict(model),
        "state_dict": {name: t.detach().cpu() for name, t in model.state_dict().items()},
        "train_config": asdict(train_config) if train_config else None,
        "loss_config": asdict(loss_config) if loss_config else None,
        "history": history.as_dict() if history else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leaves half a checkpoint behind
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model saved at `path` (weights_only loading: no code runs)."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise ValueError(
            f"{path} is not a checkpoint that loads safely (weights_only=True): "
            f"{(str(err).splitlines() or [type(err).__name__])[0]}. Only files written by save_checkpoint are accepted."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a vaecourse checkpoint (expected format {FORMAT!r}).")
    config = payload["model_config"]
    model = build_model(ModelConfig(**{**config, "input_shape": tuple(config["input_shape"]),
                                       "hidden_dims": tuple(config["hidden_dims"])}))
    model.load_state_dict(payload["state_dict"])
    return Checkpoint(
        model.eval(), _train_config(payload["train_config"]), _loss_config(payload["loss_config"]),
        History(**payload["history"]) if payload["history"] else None, payload["vaecourse_version"],
    )


def _train_config(d: dict | None) -> TrainConfig | None:
    return TrainConfig(**d) if d else None


def _loss_config(d: dict | None) -> LossConfig | None:
    return LossConfig(**{**d, "beta": BetaSchedule(**d["beta"])}) if d else None
