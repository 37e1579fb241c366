"""Checks for 03_latent_space: seed Exercises 2 (latent size sweep, elbow) and 3 (latent arithmetic), lerp, slerp."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from vaecourse import analysis
from vaecourse.checks import guard
from vaecourse.checks.core import (
    Mismatch,
    Shortcut,
    _num,
    call,
    expect_tensor,
    fmt,
    matches,
    register,
    seeded,
    seeded_single_thread,
)
from vaecourse.checks.fixtures import digits_split, remembered
from vaecourse.checks.parts import part
from vaecourse.config import LossConfig, TrainConfig
from vaecourse.models import VAE, Autoencoder, is_vae
from vaecourse.train import fit

ASSIGNMENT = "03_latent_space"
HERE = "vaecourse.checks.latent."
A_ = "vaecourse.analysis."
TRAINING_RTOL = 0.05  # the sweep's errors may differ this much from the reference run of the same seed


@register("latent_sweep", assignment=ASSIGNMENT, function="latent_dim_sweep", points=2,
          forbidden=(HERE + "reference_sweep",))
def check_sweep(latent_dim_sweep: Callable) -> None:
    x_train, x_test = digits_split()
    hidden_dims = sorted({1 + guard.variant_seed(8) % 3, 8 + guard.variant_seed(9) % 9})  # e.g. [2, 13]
    dims = [1, 16] if guard.variant() is None else hidden_dims
    config = TrainConfig(epochs=4, batch_size=50, lr=3e-3)
    case = f"latent_dim_sweep(x_train, x_test, {dims}) on 8×8 digit images (4 epochs)"
    reference = remembered(f"latent_sweep:{guard.variant()}:{dims}:{config}", lambda: _reference_run(
        x_train, x_test, dims, config))
    expected = {int(d): e for d, e in reference.items()}  # JSON keys are strings
    with seeded_single_thread(0):
        got = call(latent_dim_sweep, x_train, x_test, dims, config=config, case=case)
    if not isinstance(got, dict) or sorted(got) != dims:
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        raise Mismatch(f"on {case}: expected a dict {{latent_dim: test error}} with keys {dims}, got {fmt(keys)}.")
    errors = {d: float(v) if isinstance(v, (int, float, Tensor)) else math.nan for d, v in got.items()}
    if not all(math.isfinite(e) and e > 0 for e in errors.values()):
        raise Mismatch(f"on {case}: test errors must be positive numbers, got {fmt(errors)}.")
    for d in dims:
        if abs(errors[d] - expected[d]) > TRAINING_RTOL * expected[d]:
            raise Mismatch(f"on {case}: a reference run of the same seed gives {_rounded(expected)}, you return "
                           f"{_rounded(errors)} (more than {TRAINING_RTOL:.0%} apart at latent_dim={d}). "
                           f"Hint: {_sweep_hint(errors[d], expected[d], x_test[0].numel())}")


def _rounded(errors: dict[int, float]) -> str:
    return "{" + ", ".join(f"{d}: {_num(v)}" for d, v in errors.items()) + "}"


def _sweep_hint(got: float, expected: float, n_pixels: int) -> str:
    if abs(got * n_pixels - expected) < TRAINING_RTOL * expected:
        return ("that looks like a mean per pixel: report the squared error summed over the pixels of an image, "
                "averaged over the test images.")
    return ("build Autoencoder(x_train.shape[1:], latent_dim) for each size in turn, train it with fit(model, "
            "x_train, config, LossConfig(recon_loss_type='mse')) and measure its squared error on x_test.")


def _reference_run(x_train: Tensor, x_test: Tensor, dims: list[int], config: TrainConfig) -> dict[str, float]:
    with seeded_single_thread(0):
        return {str(d): e for d, e in reference_sweep(x_train, x_test, dims, config=config).items()}


def reference_sweep(x_train: Tensor, x_test: Tensor, dims: Sequence[int], *, config: TrainConfig) -> dict[int, float]:
    """{latent_dim: test squared error per image}: the solution's computation, under the caller's seed."""
    errors = {}
    for latent_dim in dims:
        model = Autoencoder(x_train.shape[1:], latent_dim)
        fit(model, x_train, config, LossConfig(recon_loss_type="mse"), progress=False)
        with torch.no_grad():
            x_hat, _ = model(x_test)  # (N, C, H, W)
        errors[latent_dim] = (x_test - x_hat.cpu()).pow(2).flatten(start_dim=1).sum(dim=1).mean().item()
    return errors


def reference_elbow(dims: Sequence[int], errors: Sequence[float], log_x: bool = True) -> int:
    """The dim farthest below the chord from the first to the last point (both axes scaled to [0, 1])."""
    x = torch.tensor([math.log2(d) if log_x else float(d) for d in dims], dtype=torch.float64)
    y = torch.tensor(list(errors), dtype=torch.float64)
    x = (x - x[0]) / (x[-1] - x[0])
    y = (y - y.min()) / (y.max() - y.min())
    chord = y[0] + (y[-1] - y[0]) * x
    return int(dims[int(torch.argmax(chord - y))])


ELBOW_CURVES = (
    ([2, 4, 8, 16, 32, 64, 128], [52.0, 38.0, 24.0, 13.0, 11.5, 11.0, 10.8]),
    ([1, 2, 4, 8, 16], [9.0, 4.0, 2.5, 2.1, 2.0]),
    ([4, 8, 16, 32, 64], [30.0, 29.0, 27.5, 12.0, 11.5]),
)


def _elbow_curves() -> Sequence[tuple[list[int], list[float]]]:
    """The released curves, or random decreasing ones (doubling sizes) for a hidden variant."""
    if guard.variant() is None:
        return ELBOW_CURVES
    curves = []
    for k in range(3):
        g = seeded(70 + k)
        n = int(torch.randint(5, 8, (), generator=g))
        dims = [2 ** (i + int(torch.randint(0, 2, (), generator=g))) for i in range(n)]
        drops = torch.rand(n - 1, generator=g) ** 3 * 20  # a few large drops, many small ones
        errors = (60.0 - torch.cat([torch.zeros(1), drops.cumsum(0)])).round(decimals=2).tolist()
        curves.append((dims, errors))
    return curves


@register("find_elbow", assignment=ASSIGNMENT, function="find_elbow", points=1,
          forbidden=(A_ + "find_elbow", HERE + "reference_elbow"))
def check_elbow(find_elbow: Callable) -> None:
    for k, (dims, errors) in enumerate(_elbow_curves(), start=1):
        with part(f"curve {k}"):
            _check_one_elbow(find_elbow, dims, errors)


def _check_one_elbow(find_elbow: Callable, dims: list[int], errors: list[float]) -> None:
    case = f"find_elbow({dims}, {errors})"
    got = call(find_elbow, list(dims), list(errors), case=case)
    expected = reference_elbow(dims, errors)
    if isinstance(got, Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, (int, float)) and not isinstance(got, bool) and got == expected:
        return
    hint = ""
    if got == reference_elbow(dims, errors, log_x=False):
        hint = " Hint: put log2(latent_dim) on the x axis: the sizes double at each step."
    elif isinstance(got, int) and 0 <= got < len(dims) and dims[got] == expected:
        hint = " Hint: return the latent dimension itself, not its index."
    raise Mismatch(f"on {case}: expected the elbow at latent_dim={expected}, got {fmt(got)}.{hint}")


def _latents(seed: int, n: int, d: int) -> Tensor:
    return torch.randn(n, d, generator=seeded(seed))


def reference_class_means(z: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """(num_classes, D): row k is the mean of the z whose label is k."""
    return torch.stack([z[labels == k].mean(0) for k in range(num_classes)])


def _labels(seed: int, n: int, k: int, released: list[int]) -> Tensor:
    """`released`, or for a hidden variant n labels in which each of the k classes appears."""
    if guard.variant() is None:
        return torch.tensor(released)
    return (torch.arange(n) % k)[torch.randperm(n, generator=seeded(seed))]


@register("class_means", assignment=ASSIGNMENT, function="class_means", points=2,
          forbidden=(A_ + "class_means", HERE + "reference_class_means"))
def check_class_means(class_means: Callable) -> None:
    cases = ((_latents(0, 10, 2), _labels(80, 10, 3, [2, 0, 1, 2, 1, 0, 0, 2, 1, 1]), 3),
             (_latents(1, 9, 2), _labels(81, 9, 4, [3, 3, 0, 1, 2, 3, 0, 3, 1]), 4))
    for number, (z, labels, k) in enumerate(cases, start=1):
        with part(f"case {number}"):
            case = f"class_means(z, labels={labels.tolist()}, num_classes={k}) with z of shape {tuple(z.shape)}"
            got = call(class_means, z.clone(), labels.clone(), k, case=case)
            expected = reference_class_means(z, labels, k)
            sums = torch.stack([z[labels == c].sum(0) for c in range(k)])
            expect_tensor(got, expected, case=case, hints=[matches(sums, "divide each class sum by its count.")],
                          shape_hint="return one row per class and one column per latent dimension: (num_classes, D).")


@register("latent_arithmetic", assignment=ASSIGNMENT, function="latent_arithmetic", points=1)
def check_arithmetic(latent_arithmetic: Callable) -> None:
    for shape in ((3,), (2, 3)):
        with part(f"shape {shape}"):
            z_a, z_b, z_c = (torch.randn(shape, generator=seeded(s)) for s in (10, 11, 12))
            case = f"latent_arithmetic(z_a, z_b, z_c) with vectors of shape {shape}"
            got = call(latent_arithmetic, z_a.clone(), z_b.clone(), z_c.clone(), case=case)
            expect_tensor(got, z_a + (z_b - z_c), case=case, hints=[
                matches(z_a - (z_b - z_c), "add the offset: z_a + (z_b − z_c)."),
                matches(z_a + (z_c - z_b), "the offset is z_b − z_c (from c towards b)."),
            ])


def reference_analogy(model: torch.nn.Module, x: Tensor, labels: Tensor, a: int, b: int, c: int) -> Tensor:
    """Decode z̄_a + (z̄_b − z̄_c) from the class means of the encodings (posterior means for a VAE)."""
    with torch.no_grad():
        z = model.encode(x)[0] if is_vae(model) else model.encode(x)  # (N, D)
        means = reference_class_means(z, labels, 10)  # (10, D)
        return model.decode((means[a] + (means[b] - means[c])).unsqueeze(0))  # (1, C, H, W)


@register("latent_analogy", assignment=ASSIGNMENT, function="latent_analogy", points=1,
          forbidden=(A_ + "class_means", HERE + "reference_class_means", HERE + "reference_analogy"))
def check_analogy(latent_analogy: Callable) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(guard.variant_seed(0))
        model = VAE((1, 4, 4), latent_dim=3, hidden_dims=(8,)).eval()
    x, labels = torch.rand(20, 1, 4, 4, generator=seeded(30)), torch.arange(20) % 10
    for a, b, c in ((3, 8, 0), (1, 7, 4)):
        with part(f"a={a}, b={b}, c={c}"):
            case = (f"latent_analogy(model, x, labels, a={a}, b={b}, c={c}) with a small VAE and x of shape "
                    "(20, 1, 4, 4)")
            with torch.random.fork_rng(devices=[]):
                got = call(latent_analogy, model, x.clone(), labels.clone(), a, b, c, case=case)
            expect_tensor(got, reference_analogy(model, x, labels, a, b, c), case=case, hints=[
                ((lambda g, e: True), "encode with the posterior means mu = model.encode(x)[0] (no sampling), "
                 "take the class means, then decode means[a] + (means[b] − means[c]).")
            ], shape_hint="return the decoded image as a batch of one: shape (1, C, H, W).")


# lerp and slerp are checked against vaecourse.analysis, which the course imports once notebook 03 has
# taught them: the exercise has the same signature, (z0, z1, alphas) with alphas a (T,) tensor of α values.

def _interpolation_cases() -> list[tuple[Tensor, Tensor, Tensor, str]]:
    """(z0, z1, alphas, label) with T = len(alphas) != D, so that a missing alphas[:, None] cannot broadcast."""
    z0, z1 = torch.randn(2, 4, generator=seeded(20))
    return [
        (torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.linspace(0, 1, 5),
         "alphas=torch.linspace(0, 1, 5) and orthogonal unit vectors"),
        (z0, z1, torch.tensor([0.0, 0.25, 0.9]),
         "alphas=torch.tensor([0.0, 0.25, 0.9]) and two random vectors of shape (4,)"),
        (torch.tensor([3.0, 4.0, 0.0]), torch.tensor([6.0, 8.0, 0.0]), torch.linspace(0, 1, 4),
         "alphas=torch.linspace(0, 1, 4) and parallel vectors z1 = 2·z0"),
    ]


COUNT_HINT = ("alphas is a tensor of α values, not a number of steps: use it as it is, "
              "a = alphas[:, None] of shape (T, 1), instead of torch.linspace(0, 1, steps).")
SPACING_HINT = ("use the α values in alphas as they are; your path spaces T values evenly from 0 to 1, "
                "as if alphas were only a count.")
SHAPE_HINT = "return one row per value in alphas: shape (len(alphas), D), whatever the values are."


def _interpolate(func: Callable, z0: Tensor, z1: Tensor, alphas: Tensor, *, case: str) -> object:
    """func(z0, z1, alphas); an exception becomes a Mismatch, with a hint for the two usual causes."""
    try:
        return call(func, z0.clone(), z1.clone(), alphas.clone(), case=case)
    except Shortcut:
        raise
    except Mismatch as e:
        if _takes_a_count(func, z0, z1, len(alphas)):  # the torch error would only distract: say what happened
            error = str(e).split("your function raised ")[-1].split(":")[0]
            raise Mismatch(f"on {case}, your function raised {error}, but it runs when given the number "
                           f"of steps {len(alphas)} instead. Hint: {COUNT_HINT}") from None
        message = str(e) + ("" if str(e).endswith(".") else ".")
        if "must match the size of tensor" in message:
            message += (" Hint: make alphas a column, a = alphas[:, None] of shape (T, 1), so that it broadcasts "
                        "against z0 and z1 of shape (D,) to (T, D).")
        raise Mismatch(message) from None


def _takes_a_count(func: Callable, z0: Tensor, z1: Tensor, steps: int) -> bool:
    """Whether func(z0, z1, steps) with an int returns (steps, D): the old signature with a step count."""
    try:
        got = func(z0.clone(), z1.clone(), steps)
    except Exception:  # noqa: BLE001
        return False
    return isinstance(got, Tensor) and tuple(got.shape) == (steps, z0.numel())


@register("lerp", assignment=ASSIGNMENT, function="lerp", points=1,
          forbidden=(A_ + "lerp", A_ + "slerp", "torch.lerp", "torch.Tensor.lerp"))
def check_lerp(lerp: Callable) -> None:
    for z0, z1, alphas, label in _interpolation_cases():
        with part(label):
            case = f"lerp(z0, z1, alphas) with {label}"
            got = _interpolate(lerp, z0, z1, alphas, case=case)
            even = torch.linspace(0, 1, len(alphas))
            expect_tensor(got, analysis.lerp(z0, z1, alphas), case=case, hints=[
                matches(analysis.lerp(z0, z1, even), SPACING_HINT),
                matches(analysis.lerp(z1, z0, alphas), "α = 0 gives z0 and α = 1 gives z1: weight z0 by (1 − α)."),
            ], shape_hint=SHAPE_HINT)


@register("slerp", assignment=ASSIGNMENT, function="slerp", points=2, forbidden=(A_ + "slerp",))
def check_slerp(slerp: Callable) -> None:
    for z0, z1, alphas, label in _interpolation_cases():
        with part(label):
            case = f"slerp(z0, z1, alphas) with {label}"
            got = _interpolate(slerp, z0, z1, alphas, case=case)
            even = torch.linspace(0, 1, len(alphas))
            expect_tensor(got, analysis.slerp(z0, z1, alphas), case=case, atol=1e-4, hints=[
                ((lambda g, e: not torch.isfinite(g).all()),
                 "for parallel vectors sin Ω = 0: fall back to lerp when sin Ω is tiny (and clamp cos Ω to [-1, 1])."),
                matches(analysis.lerp(z0, z1, alphas), "that is lerp: slerp follows the arc, "
                        "(sin((1−α)Ω)·z0 + sin(αΩ)·z1) / sin Ω with cos Ω = z0·z1 / (|z0||z1|)."),
                matches(analysis.slerp(z0, z1, even), SPACING_HINT),
                matches(analysis.slerp(z1, z0, alphas), "α = 0 gives z0 and α = 1 gives z1."),
            ], shape_hint=SHAPE_HINT)
