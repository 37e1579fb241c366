"""Frozen configuration dataclasses; override fields with ``dataclasses.replace``."""

from __future__ import annotations

from dataclasses import dataclass, field

RECON_LOSS_TYPES = ("bce", "mse", "l1", "gaussian")
REDUCTIONS = ("sum", "mean", "none", "batchmean")  # see losses.reduce_loss
BETA_SCHEDULES = ("constant", "linear", "cyclical")
MODEL_KINDS = ("autoencoder", "vae", "conv_vae", "gaussian_vae")
LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("fp32", "bf16", "auto")


@dataclass(frozen=True)
class BetaSchedule:
    """How β changes with the optimisation step t (0-based).

    constant: β(t) = beta_max
    linear:   β(t) = min(beta_max, beta_max · t / warmup_steps)
    cyclical: linear ramp over the first `ratio` of each cycle of `cycle_steps`, then flat.
    """

    kind: str = "constant"
    beta_max: float = 1.0
    warmup_steps: int = 0
    cycle_steps: int = 0
    ratio: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in BETA_SCHEDULES:
            raise ValueError(f"Unknown beta schedule {self.kind!r}; choose one of {BETA_SCHEDULES}.")
        if self.beta_max < 0:
            raise ValueError(f"beta_max must be >= 0, got {self.beta_max}.")
        if self.kind == "linear" and self.warmup_steps <= 0:
            raise ValueError("A linear schedule needs warmup_steps > 0.")
        if self.kind == "cyclical" and (self.cycle_steps <= 0 or not 0 < self.ratio <= 1):
            raise ValueError("A cyclical schedule needs cycle_steps > 0 and 0 < ratio <= 1.")


@dataclass(frozen=True)
class LossConfig:
    """The objective: recon + β·KL, summed per example (nats), then averaged over the batch.

    free_bits: per-dimension KL floor λ (nats); normalized: recon/N + β·KL/D instead of sums;
    state_weight: λ for a second modality (multi-modal reconstruction).
    """

    recon_loss_type: str = "bce"
    beta: BetaSchedule = field(default_factory=BetaSchedule)
    free_bits: float = 0.0
    normalized: bool = False

    def __post_init__(self) -> None:
        if self.recon_loss_type not in RECON_LOSS_TYPES:
            raise ValueError(
                f"Unknown recon_loss_type {self.recon_loss_type!r}; choose one of {RECON_LOSS_TYPES}."
            )
        if self.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0 nats, got {self.free_bits}.")
        if not isinstance(self.beta, BetaSchedule):
            raise TypeError(
                f"beta must be a BetaSchedule, got {self.beta!r}; for a fixed β write "
                f"beta=BetaSchedule(beta_max={self.beta!r})."
            )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for `vaecourse.train.fit`."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    device: str | None = None  # None: cuda, else mps, else cpu
    binarize: bool = False  # dynamic binarisation: a fresh Bernoulli sample of every batch
    # torch CPU threads during fit (then restored): "auto" = one per idle core (runtime.auto_threads),
    # an int, or None to leave torch's setting as it is. Ignored on a GPU.
    num_threads: int | str | None = "auto"
    lr_schedule: str = "constant"  # "cosine": lr·½(1 + cos(π·t/T)) over the run's T steps
    # "bf16": forward pass under torch.autocast(bfloat16), weights and optimiser stay float32.
    # Faster only where the hardware has bfloat16 units (Ampere+ GPUs; CPUs with AMX); "auto"
    # uses bf16 exactly there (runtime.bf16_is_fast) and float32 elsewhere.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1.")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}.")
        if not (self.num_threads in (None, "auto") or (type(self.num_threads) is int and self.num_threads >= 1)):
            raise ValueError(f"num_threads must be 'auto', None or an int >= 1, got {self.num_threads!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {self.precision!r}; choose one of {PRECISIONS}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"Unknown lr_schedule {self.lr_schedule!r}; choose one of {LR_SCHEDULES}.")


@dataclass(frozen=True)
class ModelConfig:
    """Enough to rebuild a model from a checkpoint with `vaecourse.models.build_model`."""

    kind: str = "vae"
    input_shape: tuple[int, ...] = (1, 28, 28)
    latent_dim: int = 20
    hidden_dims: tuple[int, ...] = (400,)
    learn_variance: str = "none"  # gaussian_vae only: "scalar" or "pixel"

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"Unknown model kind {self.kind!r}; choose one of {MODEL_KINDS}.")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}.")


# The course's best model within one notebook's CPU budget (~4 minutes on 2 cores): notebook 04
# trains it and benchmarks/bench_quality.py measures its likelihood (benchmarks/RESULTS.md §4).
BEST_MODEL = ModelConfig("conv_vae", latent_dim=20, hidden_dims=(32, 64, 256))
BEST_TRAINING = TrainConfig(
    epochs=20, batch_size=128, lr=1e-3, lr_schedule="cosine", binarize=True, precision="auto",
)
