"""Checks for 01_reconstruction_losses: reductions, BCE, MSE, L1, Gaussian NLL, seed Exercise 1."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from vaecourse import losses
from vaecourse.checks import guard
from vaecourse.checks.core import (
    Mismatch,
    call,
    expect_number,
    expect_raises,
    expect_tensor,
    fmt,
    matches,
    register,
    scaled,
    seeded,
    seeded_single_thread,
)
from vaecourse.checks.fixtures import digits_split, remembered
from vaecourse.checks.parts import part
from vaecourse.config import LossConfig, TrainConfig
from vaecourse.models import Autoencoder
from vaecourse.train import fit

ASSIGNMENT = "01_reconstruction_losses"
REDUCTIONS = ("sum", "mean", "none")
SHAPE = (4, 1, 3, 3)  # (B, C, H, W): small enough to print, 9 elements per example
METRICS = ("bce", "mse", "l1")
# What each exercise asks the learner to write, so its function may not call it (see guard.py).
COURSE = tuple(f"vaecourse.losses.{f}" for f in (
    "reduce_loss", "elementwise_recon_nll", "vae_reconstruction_loss", "vae_loss"))
F_ = "torch.nn.functional."
LIBRARY = {
    "bce": (F_ + "binary_cross_entropy", F_ + "binary_cross_entropy_with_logits"),
    "mse": (F_ + "mse_loss",),
    "l1": (F_ + "l1_loss", F_ + "smooth_l1_loss"),
    "gaussian": (F_ + "gaussian_nll_loss", "torch.distributions.normal.Normal.log_prob"),
}
TRAINING_RTOL = 0.05  # a training check's values may differ this much from the reference run of the same seed


def _pair(seed: int, shape: tuple[int, ...] = SHAPE) -> tuple[Tensor, Tensor]:
    """(x_hat, x): decoder output in (0.05, 0.95) and data in [0, 1], both `shape`."""
    g = seeded(seed)
    x = torch.rand(shape, generator=g)
    return 0.05 + 0.9 * torch.rand(shape, generator=g), x


def _reduction_hints(reduction: str, x: Tensor) -> list:
    """Known wrong reductions, as hints on the learner's value."""
    b, n = x.shape[0], x[0].numel()
    if reduction == "sum":
        return [scaled(b * n, f"you averaged; 'sum' adds every element (your value × {b * n} matches)."),
                scaled(b, f"you averaged over the batch; 'sum' also adds over examples (your value × {b} matches).")]
    if reduction == "mean":
        return [scaled(1 / (b * n), f"'mean' divides the sum by the number of elements B·C·H·W = {b * n}."),
                scaled(1 / n, f"'mean' averages over every element, not per example (your value / {n} matches).")]
    return [scaled(1 / n, f"'none' sums each example over its pixels (your value × {n} matches a mean).")]


def _reduction_shape_hint(reduction: str) -> str:
    return {"none": "'none' returns one value per example, shape (B,): sum over every non-batch dimension.",
            "sum": "'sum' returns a scalar, shape ().", "mean": "'mean' returns a scalar, shape ()."}[reduction]


def _case(fn: str, reduction: str, x: Tensor, extra: str = "") -> str:
    return f"{fn}(x_hat, x{extra}, reduction={reduction!r}) with x of shape {tuple(x.shape)}"


@register("recon_reduce", assignment=ASSIGNMENT, function="reduce_loss", points=1, forbidden=COURSE)
def check_reduce(reduce_loss: Callable) -> None:
    for reduction in REDUCTIONS:
        with part(f"reduction={reduction!r}"):
            for shape in (SHAPE, (3, 5)):
                elementwise = torch.rand(shape, generator=seeded(len(shape)))
                case = f"reduce_loss(elementwise, {reduction!r}) with elementwise of shape {shape}"
                got = call(reduce_loss, elementwise.clone(), reduction, case=case)
                expected = losses.reduce_loss(elementwise, reduction)
                hints = _reduction_hints(reduction, elementwise)
                expect_tensor(got, expected, case=case, hints=hints, shape_hint=_reduction_shape_hint(reduction))
    with part("unknown reduction"):
        expect_raises(reduce_loss, ValueError, torch.ones(2, 3), "avg", case="reduction='avg'",
                      why="An unknown reduction should raise ValueError, not pass silently.")


def _check_loss(fn_name: str, loss_fn: Callable, loss_type: str, wrong: dict[str, Callable]) -> None:
    """Compare loss_fn(x_hat, x, reduction) with the reference on every reduction."""
    x_hat, x = _pair(0)
    for reduction in REDUCTIONS:
        with part(f"reduction={reduction!r}"):
            case = _case(fn_name, reduction, x)
            got = call(loss_fn, x_hat.clone(), x.clone(), reduction=reduction, case=case)
            expected = losses.vae_reconstruction_loss(x_hat, x, loss_type, reduction)
            hints = [matches(losses.reduce_loss(f(x_hat, x), reduction), text) for text, f in wrong.items()]
            expect_tensor(got, expected, case=case, hints=hints + _reduction_hints(reduction, x),
                          shape_hint=_reduction_shape_hint(reduction))
    with part("differentiable", weight=0.5):
        _check_differentiable(fn_name, loss_fn)


def _check_differentiable(fn_name: str, loss_fn: Callable) -> None:
    x_hat, x = _pair(1)
    x_hat.requires_grad_(True)
    got = call(loss_fn, x_hat, x, reduction="sum", case=f"{fn_name} with x_hat.requires_grad=True")
    if not isinstance(got, Tensor) or got.grad_fn is None:
        raise Mismatch(f"{fn_name}(x_hat, x) must be differentiable in x_hat to train a model: compute it "
                       "with torch operations, without .item(), .detach() or NumPy.")


@register("recon_bce", assignment=ASSIGNMENT, function="bce_loss", points=2, forbidden=COURSE + LIBRARY["bce"])
def check_bce(bce_loss: Callable) -> None:
    wrong = {
        "the loss is the *negative* log-likelihood: put a minus sign in front of the sum.":
            lambda x_hat, x: x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat),
        "you swapped the arguments: the decoder output x_hat goes inside the logs.":
            lambda x_hat, x: -(x_hat * torch.log(x) + (1 - x_hat) * torch.log(1 - x)),
    }
    _check_loss("bce_loss", bce_loss, "bce", wrong)
    with part("saturated outputs"):
        _check_saturated(bce_loss)


def _check_saturated(bce_loss: Callable) -> None:
    x = torch.tensor([0.0, 1.0, 1.0, 0.0]).view(1, 1, 2, 2)
    case = "bce_loss(x_hat, x, reduction='sum') with saturated outputs x_hat = x = [0, 1, 1, 0]"
    got = call(bce_loss, x.clone(), x.clone(), reduction="sum", case=case)
    expect_tensor(got, torch.tensor(0.0), case=case, atol=1e-3, hints=[(
        lambda g, e: not torch.isfinite(g).all(),
        "x_hat = 0 or 1 makes 0·log 0 = nan: clamp each log at -100, as PyTorch's own BCE does: "
        "torch.log(x_hat).clamp(min=-100).")])


@register("recon_mse", assignment=ASSIGNMENT, function="mse_loss", points=1, forbidden=COURSE + LIBRARY["mse"])
def check_mse(mse_loss: Callable) -> None:
    wrong = {
        "drop the ½: our MSE is Σ(x − x̂)², the squared error summed without a factor.":
            lambda x_hat, x: 0.5 * (x - x_hat).pow(2),
        "that is |x − x̂| (L1): MSE squares the difference.": lambda x_hat, x: (x - x_hat).abs(),
    }
    _check_loss("mse_loss", mse_loss, "mse", wrong)


@register("recon_l1", assignment=ASSIGNMENT, function="l1_loss", points=1, forbidden=COURSE + LIBRARY["l1"])
def check_l1(l1_loss: Callable) -> None:
    wrong = {"that is (x − x̂)² (MSE): L1 takes the absolute value |x − x̂|.": lambda x_hat, x: (x - x_hat).pow(2)}
    _check_loss("l1_loss", l1_loss, "l1", wrong)


@register("recon_gaussian", assignment=ASSIGNMENT, function="gaussian_nll", points=2,
          forbidden=COURSE + LIBRARY["gaussian"])
def check_gaussian(gaussian_nll: Callable) -> None:
    x_hat, x = _pair(2)
    per_pixel = torch.linspace(-2.0, 1.0, 9).view(1, 3, 3)  # (C, H, W): one log σ² per pixel
    for logvar_x, label in ((torch.tensor(0.0), "logvar_x=0 (σ = 1)"), (torch.tensor(-2.0), "logvar_x=-2"),
                            (per_pixel, "a per-pixel logvar_x of shape (1, 3, 3)")):
        with part(label):
            for reduction in REDUCTIONS:
                case = _case("gaussian_nll", reduction, x, ", logvar_x") + f" and {label}"
                got = call(gaussian_nll, x_hat.clone(), x.clone(), logvar_x.clone(), reduction=reduction, case=case)
                expected = losses.vae_reconstruction_loss(x_hat, x, "gaussian", reduction, logvar_x=logvar_x)
                expect_tensor(got, expected, case=case, hints=_gaussian_hints(x_hat, x, logvar_x, reduction),
                              shape_hint=_reduction_shape_hint(reduction))
    def unit_variance(x_hat: Tensor, x: Tensor, reduction: str) -> Tensor:
        return gaussian_nll(x_hat, x, torch.tensor(0.0), reduction=reduction)

    with part("differentiable", weight=0.5):
        _check_differentiable("gaussian_nll", unit_variance)


def _gaussian_hints(x_hat: Tensor, x: Tensor, logvar_x: Tensor, reduction: str) -> list:
    sq = (x - x_hat).pow(2)
    wrong = {
        "add the constant ½·log(2π) per element: we want the exact negative log-likelihood in nats.":
            0.5 * (sq * torch.exp(-logvar_x) + logvar_x),
        "logvar_x is log σ², the log-variance: divide by σ² = exp(logvar_x), not by exp(2·logvar_x).":
            0.5 * (sq * torch.exp(-2 * logvar_x) + 2 * logvar_x + math.log(2 * math.pi)),
        "the squared error is divided by σ² (multiply by exp(-logvar_x)), not multiplied by it.":
            0.5 * (sq * torch.exp(logvar_x) + logvar_x + math.log(2 * math.pi)),
    }
    return [matches(losses.reduce_loss(v, reduction), t) for t, v in wrong.items()] + _reduction_hints(reduction, x)


def _tiny_autoencoder(seed: int) -> Autoencoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(guard.variant_seed(seed))
        return Autoencoder((1, 4, 4), latent_dim=2, hidden_dims=(8,)).eval()


@register("recon_errors", assignment=ASSIGNMENT, function="reconstruction_errors", points=1,
          forbidden=COURSE + sum(LIBRARY.values(), ()))
def check_errors(reconstruction_errors: Callable) -> None:
    model, x = _tiny_autoencoder(0), torch.rand(6, 1, 4, 4, generator=seeded(3))
    case = "reconstruction_errors(model, x) with a small Autoencoder and x of shape (6, 1, 4, 4)"
    got = call(reconstruction_errors, model, x.clone(), case=case)
    _expect_errors(got, _reference_errors(model, x), case=case, n_pixels=16, batch=6)


@torch.no_grad()
def _reference_errors(model: nn.Module, x: Tensor) -> dict[str, float]:
    """{metric: nats per image}, without the constants (as the learner's loss functions); model on any device."""
    x_hat, _ = model(x.to(next(model.parameters()).device))
    x_hat = x_hat.cpu()  # (N, C, H, W): compared on the CPU
    return {m: losses.vae_reconstruction_loss(x_hat, x, m, "none").mean().item() for m in METRICS}


def _expect_errors(got: object, expected: dict[str, float], *, case: str, n_pixels: int, batch: int,
                   rtol: float = 1e-4) -> None:
    if not isinstance(got, dict) or set(got) != set(expected):
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        raise Mismatch(f"on {case}: expected a dict with keys {sorted(expected)}, got {fmt(keys)}.")
    for metric, value in expected.items():
        expect_number(got[metric], value, case=f"{case}, key {metric!r}", rtol=rtol, hints=[
            scaled(n_pixels, f"report nats per image: sum over the {n_pixels} pixels, then average over images."),
            scaled(1 / batch, "average over the images instead of summing over them."),
        ])


@register("compare_losses", assignment=ASSIGNMENT, function="compare_reconstruction_losses", points=2,
          forbidden=("vaecourse.checks.recon.reference_compare",))
def check_compare(compare_reconstruction_losses: Callable) -> None:
    x_train, x_test = digits_split()
    config = TrainConfig(epochs=4, batch_size=50, lr=3e-3)
    latent_dim = 8 if guard.variant() is None else 4 + guard.variant_seed(7) % 9  # hidden: 4..12
    case = f"compare_reconstruction_losses on 8×8 digit images (latent_dim={latent_dim}, 4 epochs)"
    reference = remembered(f"compare_losses:{guard.variant()}:{latent_dim}:{config}", lambda: _reference_run(
        x_train, x_test, latent_dim, config))
    with seeded_single_thread(0):
        got = call(compare_reconstruction_losses, x_train, x_test, METRICS, latent_dim=latent_dim, config=config,
                   case=case)
    if not isinstance(got, dict) or list(got) != list(METRICS):
        keys = list(got) if isinstance(got, dict) else type(got).__name__
        raise Mismatch(f"on {case}: expected a dict with one entry per loss type {list(METRICS)}, got {fmt(keys)}.")
    for loss_type, entry in got.items():
        with part(loss_type):
            _check_entry(loss_type, entry, x_train, x_test, config, case)
            where = (f"{case}, entry {loss_type!r}, compared with a reference run of the same seed (within "
                     f"{TRAINING_RTOL:.0%}): build Autoencoder(x_train.shape[1:], latent_dim) and fit it with the "
                     "config you were given")
            _expect_errors(entry["errors"], reference[loss_type], rtol=TRAINING_RTOL, n_pixels=x_test[0].numel(),
                           batch=x_test.shape[0], case=where)


def _reference_run(x_train: Tensor, x_test: Tensor, latent_dim: int, config: TrainConfig) -> dict:
    with seeded_single_thread(0):
        return reference_compare(x_train, x_test, METRICS, latent_dim=latent_dim, config=config)


def reference_compare(x_train: Tensor, x_test: Tensor, loss_types: tuple[str, ...], *, latent_dim: int,
                      config: TrainConfig) -> dict[str, dict[str, float]]:
    """{loss_type: test errors per metric} of the solution's computation, under the caller's seed."""
    out = {}
    for loss_type in loss_types:
        model = Autoencoder(x_train.shape[1:], latent_dim)
        fit(model, x_train, config, LossConfig(recon_loss_type=loss_type), progress=False)
        out[loss_type] = _reference_errors(model, x_test)
    return out


def _check_entry(
    loss_type: str, entry: object, x_train: Tensor, x_test: Tensor, config: TrainConfig, case: str
) -> None:
    where = f"{case}, entry {loss_type!r}"
    if not isinstance(entry, dict) or not {"model", "history", "errors"} <= set(entry):
        raise Mismatch(f"on {where}: expected a dict with keys 'model', 'history' and 'errors'.")
    model, history = entry["model"], entry["history"]
    try:
        test_errors, train_errors = _reference_errors(model, x_test), _reference_errors(model, x_train)
    except Exception:  # noqa: BLE001 - any failure here means the model does not fit the data
        raise Mismatch(f"on {where}: 'model' should be an Autoencoder built for x_train.shape[1:] = "
                       f"{tuple(x_train.shape[1:])} (don't hard-code 28×28).") from None
    if len(getattr(history, "epoch_recon", [])) != config.epochs:
        raise Mismatch(f"on {where}: 'history' should be what fit(model, x_train, config, ...) returned, "
                       f"with {config.epochs} epochs; pass the config you were given.")
    _expect_errors(entry["errors"], test_errors, case=f"{where}, errors on x_test",
                   n_pixels=x_test[0].numel(), batch=x_test.shape[0], rtol=1e-3)
    trained_with = _closest_metric(history.epoch_recon[-1], train_errors)
    if trained_with != loss_type:
        raise Mismatch(f"on {where}: the training losses look like {trained_with!r}, not {loss_type!r}. "
                       f"Pass LossConfig(recon_loss_type={loss_type!r}) to fit.")


def _closest_metric(value: float, errors: dict[str, float]) -> str:
    """The metric whose value on the training set is nearest to `value` (on a log scale)."""
    return min(errors, key=lambda m: abs(math.log(max(value, 1e-12) / max(errors[m], 1e-12))))
