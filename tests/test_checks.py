"""vaecourse.checks: reference answers pass, stubs are ⏳, wrong answers get a helpful ❌, never a crash."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from vaecourse import losses
from vaecourse.checks import (
    ASSIGNMENTS,
    REGISTRY,
    Result,
    check,
    exercises_for,
    grade_in_namespace,
    hidden_seed,
    load_extra_checks,
    run_check,
    skip_if_unfinished,
)
from vaecourse.checks import guard
from vaecourse.models import Autoencoder


ROOT = Path(__file__).resolve().parents[1]
PRELUDE = """\
import math
import torch
import torch.nn.functional as F
from vaecourse.config import LossConfig, TrainConfig
from vaecourse.losses import kl_divergence, reduce_loss, vae_reconstruction_loss
from vaecourse.models import VAE, Autoencoder
from vaecourse.train import fit
TRAIN = TrainConfig()
"""


def solution_functions(assignment: str) -> dict:
    """The functions the solution notebook defines: its solution cells, run after the imports they need."""
    nb = nbformat.read(ROOT / "solutions" / f"{assignment}.ipynb", as_version=4)
    namespace: dict = {}
    exec(PRELUDE, namespace)  # noqa: S102 - our own notebooks
    for cell in nb.cells:
        if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
            exec(cell.source, namespace)  # noqa: S102
    return namespace


SOLUTIONS = {a: solution_functions(a) for a in ASSIGNMENTS}
S1, S2, S3, S4 = (SOLUTIONS[a] for a in ASSIGNMENTS)
REFERENCE = {ex.name: SOLUTIONS[a][ex.function] for a in ASSIGNMENTS for ex in exercises_for(a)}
TRAINING = {"compare_losses", "latent_sweep"}
RELEASED = [name for a in ASSIGNMENTS for name in (ex.name for ex in exercises_for(a))]


def _stub(*args, **kwargs):
    raise NotImplementedError("not written yet")


def test_every_exercise_has_a_reference_here():
    assert set(REFERENCE) == set(RELEASED)
    assert len(RELEASED) == len(set(RELEASED)) == 22


@pytest.mark.parametrize("name", [n for n in RELEASED if n not in TRAINING])
def test_reference_passes(name):
    assert run_check(name, REFERENCE[name]) == Result(name, "pass", "correct")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRAINING))
def test_reference_training_passes(name):
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    assert run_check(name, REFERENCE[name]).status == "pass"
    assert torch.get_num_threads() == threads  # the check restores the learner's settings
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("name", RELEASED)
def test_stub_is_not_attempted(name, capsys):
    check(name, _stub)
    assert capsys.readouterr().out == f"⏳ {name}: not attempted yet (the function still raises NotImplementedError)\n"


@pytest.mark.parametrize("name", RELEASED)
def test_unexpected_exception_is_a_fail_not_a_crash(name):
    def broken(*args, **kwargs):
        raise KeyError(f"boom {object()}")

    result = run_check(name, broken)
    assert result.status == "fail"
    assert "KeyError: 'boom <object object>'" in result.message
    assert "0x" not in result.message  # deterministic text: no memory addresses


def _fail(name, func) -> str:
    result = run_check(name, func)
    assert result.status == "fail", result
    return result.message


def test_bce_mean_instead_of_sum_is_named():
    message = _fail("recon_bce", lambda x_hat, x, reduction="sum": S1["bce_loss"](x_hat, x, "mean"))
    assert "reduction='sum'" in message and "(shape" not in message.split("got")[0][-5:]
    assert "your value × 36 matches" in message  # B·C·H·W = 4·1·3·3


def test_bce_sign_and_swap_hints():
    def positive(x_hat, x, reduction="sum"):
        return S1["reduce_loss"](x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat), reduction)

    def swapped(x_hat, x, reduction="sum"):
        return S1["reduce_loss"](-(x_hat * torch.log(x) + (1 - x_hat) * torch.log(1 - x)), reduction)

    assert "minus sign" in _fail("recon_bce", positive)
    assert "swapped" in _fail("recon_bce", swapped)


def test_bce_saturation_nan_gets_the_clamp_hint():
    def naive(x_hat, x, reduction="sum"):
        return S1["reduce_loss"](-(x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)), reduction)

    message = _fail("recon_bce", naive)
    assert "saturated outputs" in message and "nan" in message and "clamp" in message


def test_bce_must_stay_differentiable():
    message = _fail("recon_bce", lambda x_hat, x, reduction="sum": S1["bce_loss"](x_hat, x, reduction).detach())
    assert "differentiable" in message


def test_reduce_none_shape_hint():
    def keeps_shape(e, reduction="sum"):
        return e if reduction == "none" else S1["reduce_loss"](e, reduction)

    message = _fail("recon_reduce", keeps_shape)
    assert "expected shape (4,), got shape (4, 1, 3, 3)" in message and "one value per example" in message


def test_reduce_unknown_reduction_must_raise():
    def lenient(e, reduction="sum"):
        return S1["reduce_loss"](e, reduction) if reduction in ("sum", "mean", "none") else e.sum()

    assert "expected ValueError but nothing was raised" in _fail("recon_reduce", lenient)


def test_mse_half_and_gaussian_constant_hints():
    half = lambda x_hat, x, reduction="sum": 0.5 * S1["reduce_loss"]((x - x_hat) ** 2, reduction)  # noqa: E731
    assert "drop the ½" in _fail("recon_mse", half)

    def no_constant(x_hat, x, logvar_x, reduction="sum"):
        return S1["reduce_loss"](0.5 * ((x - x_hat) ** 2 * torch.exp(-logvar_x) + logvar_x), reduction)

    assert "½·log(2π)" in _fail("recon_gaussian", no_constant)


def test_gaussian_nll_matches_torch_distributions():
    """The checks' reference is the exact Gaussian NLL, as torch.distributions computes it."""
    x_hat, x, logvar_x = torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2), torch.randn(1, 2, 2)
    expected = -torch.distributions.Normal(x_hat, torch.exp(0.5 * logvar_x)).log_prob(x).sum()
    got = losses.vae_reconstruction_loss(x_hat, x, "gaussian", "sum", logvar_x=logvar_x)
    assert torch.allclose(got, expected, atol=1e-5)


def test_kl_sign_and_vae_loss_trap_hints():
    negative = lambda mu, logvar, reduction="sum": -S2["kl_divergence"](mu, logvar, reduction)  # noqa: E731
    assert "minus sign" in _fail("kl_divergence", negative)

    def trap(x_hat, x, mu, logvar, beta=1.0):
        recon = F.binary_cross_entropy(x_hat, x)  # the default per-element mean
        kl = S2["kl_divergence"](mu, logvar)
        return recon + beta * kl, recon, kl

    assert "a hidden β" in _fail("vae_loss", trap)

    def beta_on_recon(x_hat, x, mu, logvar, beta=1.0):
        total, recon, kl = S2["vae_loss"](x_hat, x, mu, logvar, 1.0)
        return beta * recon + kl, recon, kl

    assert "beta weights the KL term" in _fail("vae_loss", beta_on_recon)


def test_annealing_and_free_bits_hints():
    assert "stays at beta_max" in _fail("beta_annealing", lambda t, beta_max, warmup: beta_max * t / warmup)
    per_example = lambda kl, free_bits: kl.clamp(min=free_bits).mean(0).sum()  # noqa: E731
    assert "average each dimension over the batch first" in _fail("free_bits", per_example)
    total = lambda kl, free_bits: kl.sum(1).mean().clamp(min=free_bits)  # noqa: E731
    assert "each latent dimension separately" in _fail("free_bits", total)


def test_latent_hints():
    linear = lambda dims, errors: dims[[2 ** d for d in dims].index(  # noqa: E731 - x = d, not log2 d
        S3["find_elbow"]([2 ** d for d in dims], errors))]
    assert "log2(latent_dim)" in _fail("find_elbow", linear)
    index = lambda dims, errors: dims.index(S3["find_elbow"](dims, errors))  # noqa: E731
    assert "not its index" in _fail("find_elbow", index)
    sums = lambda z, labels, k: torch.stack([z[labels == c].sum(0) for c in range(k)])  # noqa: E731
    assert "divide each class sum" in _fail("class_means", sums)
    assert "(num_classes, D)" in _fail("class_means", lambda z, labels, k: S3["class_means"](z, labels, k).T)

    def no_fallback(z0, z1, alphas):
        omega = torch.arccos(torch.dot(z0, z1) / (z0.norm() * z1.norm()))
        a = alphas[:, None]
        return (torch.sin((1 - a) * omega) * z0 + torch.sin(a * omega) * z1) / torch.sin(omega)

    message = _fail("slerp", no_fallback)
    assert "parallel" in message and "fall back to lerp" in message
    assert "that is lerp" in _fail("slerp", S3["lerp"])
    assert "weight z0 by (1 − α)" in _fail("lerp", lambda z0, z1, alphas: S3["lerp"](z1, z0, alphas))


def _with_steps(path):
    """The old exercise signature: path(z0, z1, steps) with an int number of evenly spaced steps."""
    return lambda z0, z1, steps: path(z0, z1, torch.linspace(0, 1, steps))


@pytest.mark.parametrize("name", ["lerp", "slerp"])
def test_interpolation_hints_on_alphas(name):
    path = S3[name]
    # alphas treated as a count: linspace(0, 1, alphas) raises, but the function runs with an int
    message = _fail(name, _with_steps(path))
    assert message.split(" (0 of 3 parts right")[0] == (
        "[alphas=torch.linspace(0, 1, 5) and orthogonal unit vectors] "
        f"on {name}(z0, z1, alphas) with alphas=torch.linspace(0, 1, 5) and orthogonal unit vectors, your function "
        "raised TypeError, but it runs when given the number of steps 5 instead. Hint: alphas is a tensor of α "
        "values, not a number of steps: use it as it is, a = alphas[:, None] of shape (T, 1), instead of "
        "torch.linspace(0, 1, steps).")
    assert _fail(name, _with_steps(path)) == message  # deterministic
    # alphas used only for its length: right on evenly spaced alphas, wrong on uneven ones
    evenly = _fail(name, lambda z0, z1, alphas: path(z0, z1, torch.linspace(0, 1, len(alphas))))
    assert "alphas=torch.tensor([0.0, 0.25, 0.9])" in evenly and "as if alphas were only a count" in evenly
    # one row too many: the shape hint names len(alphas)
    extra = _fail(name, lambda z0, z1, alphas: path(z0, z1, torch.cat([alphas, alphas[-1:]])))
    assert "expected shape (5, 2), got shape (6, 2)" in extra and "shape (len(alphas), D)" in extra


def test_lerp_without_a_column_gets_the_broadcast_hint():
    message = _fail("lerp", lambda z0, z1, alphas: (1 - alphas) * z0 + alphas * z1)
    assert "RuntimeError: The size of tensor a (5) must match the size of tensor b (2)" in message
    assert "a = alphas[:, None] of shape (T, 1)" in message


def test_training_check_spots_wrong_loss_and_hardcoded_shape():
    def always_bce(x_train, x_test, loss_types, *, latent_dim, config):
        out = S1["compare_reconstruction_losses"](x_train, x_test, ["bce"], latent_dim=latent_dim, config=config)["bce"]
        return {t: out for t in loss_types}

    assert "Pass LossConfig(recon_loss_type='mse')" in _fail("compare_losses", always_bce)

    def mnist_shaped(x_train, x_test, loss_types, *, latent_dim, config):
        return {t: {"model": Autoencoder((1, 28, 28), latent_dim), "history": None, "errors": {}} for t in loss_types}

    assert "don't hard-code 28×28" in _fail("compare_losses", mnist_shaped)


def test_sweep_check_rejects_wrong_keys():
    assert "with keys [1, 16]" in _fail("latent_sweep", lambda xtr, xte, dims, config: [0.1, 0.2])


@pytest.mark.slow
def test_sweep_check_compares_with_a_reference_run():
    def per_pixel(x_train, x_test, dims, *, config):
        errors = S3["latent_dim_sweep"](x_train, x_test, dims, config=config)
        return {d: e / x_test[0].numel() for d, e in errors.items()}

    assert "mean per pixel" in _fail("latent_sweep", per_pixel)
    constant = _fail("latent_sweep", lambda *a, **k: {1: 10.0, 16: 5.0})  # the shortcut of issue #15
    assert "a reference run of the same seed gives {1: " in constant


def test_output_is_one_deterministic_line(capsys):
    def noisy(x_hat, x, reduction="sum"):
        print("debugging", id(x))
        return torch.tensor(1.0)

    check("recon_bce", noisy)
    first = capsys.readouterr().out
    check("recon_bce", noisy)
    assert capsys.readouterr().out == first
    assert first.count("\n") == 1 and first.startswith("❌ recon_bce: [reduction='sum'] on bce_loss(x_hat, x, "
                                                         "reduction='sum')")
    assert first.endswith("(0 of 5 parts right; also wrong: reduction='mean', reduction='none', differentiable, "
                          "saturated outputs)\n")
    assert re.search(r"expected \d", first) and "got 1" in first


def test_not_a_function_is_a_fail():
    assert run_check("lerp", 3).line() == "❌ lerp: expected the function `lerp`, got a int."


def test_skip_if_unfinished(capsys):
    with skip_if_unfinished():
        raise NotImplementedError("bce_loss is not written yet")
    assert capsys.readouterr().out == "⏳ skipped: finish the exercise first (bce_loss is not written yet).\n"
    with pytest.raises(ValueError), skip_if_unfinished():
        raise ValueError("a real bug must still show")


def test_grade_in_namespace_finds_functions_by_name():
    assert grade_in_namespace("lerp", {}).status == "missing"
    assert grade_in_namespace("lerp", {"lerp": S3["lerp"]}).status == "pass"


def test_load_extra_checks(tmp_path):
    path = tmp_path / "instructor.py"
    path.write_text(
        "from vaecourse.checks import Mismatch, register\n"
        "@register('lerp_long', assignment='03_latent_space', function='lerp', points=3)\n"
        "def lerp_long(lerp):\n"
        "    torch = __import__('torch')\n"
        "    if lerp(torch.zeros(2), torch.ones(2), torch.linspace(0, 1, 100)).shape != (100, 2):\n"
        "        raise Mismatch('on 100 alphas: expected shape (100, 2)')\n"
    )
    try:
        (extra,) = load_extra_checks(path)
        assert (extra.name, extra.points, extra.function) == ("lerp_long", 3.0, "lerp")
        assert run_check("lerp_long", S3["lerp"]).status == "pass"
        wrong = run_check("lerp_long", lambda z0, z1, alphas: z0)
        assert wrong.line() == "❌ lerp_long: on 100 alphas: expected shape (100, 2)"
    finally:
        REGISTRY.pop("lerp_long", None)


# ---- shortcuts score 0: forbidden calls, constants, answers hard-coded for the released inputs ----

F_ = torch.nn.functional
SHORTCUTS = {  # exercise: (a function that gets the right values by calling what it should write, what it calls)
    "recon_reduce": (lambda e, reduction="sum": losses.reduce_loss(e, reduction), "vaecourse.losses.reduce_loss"),
    "recon_bce": (lambda x_hat, x, reduction="sum": S1["reduce_loss"](F_.binary_cross_entropy(
        x_hat, x, reduction="none"), reduction), "torch.nn.functional.binary_cross_entropy"),
    "recon_mse": (lambda x_hat, x, reduction="sum": S1["reduce_loss"](F_.mse_loss(x_hat, x, reduction="none"),
                                                                     reduction), "torch.nn.functional.mse_loss"),
    "recon_l1": (lambda x_hat, x, reduction="sum": losses.vae_reconstruction_loss(x_hat, x, "l1", reduction),
                 "vaecourse.losses.vae_reconstruction_loss"),
    "recon_gaussian": (lambda x_hat, x, logvar_x, reduction="sum": S1["reduce_loss"](
        -torch.distributions.Normal(x_hat, torch.exp(0.5 * logvar_x)).log_prob(x), reduction),
        "torch.distributions.normal.Normal.log_prob"),
    "kl_divergence": (lambda mu, logvar, reduction="sum": losses.kl_divergence(mu, logvar, reduction),
                      "vaecourse.losses.kl_divergence"),
    "vae_loss": (lambda x_hat, x, mu, logvar, beta=1.0: losses.vae_loss(x_hat, x, mu, logvar, beta),
                 "vaecourse.losses.vae_loss"),
    "beta_annealing": (losses.linear_annealing, "vaecourse.losses.linear_annealing"),
    "free_bits": (losses.free_bits_kl, "vaecourse.losses.free_bits_kl"),
    "find_elbow": (analysis_find_elbow := __import__("vaecourse.analysis", fromlist=["_"]).find_elbow,
                   "vaecourse.analysis.find_elbow"),
    "class_means": (lambda z, labels, k: __import__("vaecourse.analysis", fromlist=["_"]).class_means(z, labels, k),
                    "vaecourse.analysis.class_means"),
    "lerp": (lambda z0, z1, alphas: torch.lerp(z0, z1, alphas[:, None]), "torch.lerp"),
    "slerp": (__import__("vaecourse.analysis", fromlist=["_"]).slerp, "vaecourse.analysis.slerp"),
    "reparameterize": (lambda mu, logvar, eps: mu + torch.distributions.Normal(0 * mu, torch.exp(0.5 * logvar)).rsample(),
                       "torch.distributions.normal.Normal.rsample"),
    "elbo": (lambda model, x, eps: __import__("vaecourse.checks.evaluation", fromlist=["_"]).reference_elbo(
        model, x, eps), "vaecourse.checks.evaluation.reference_elbo"),
    "iw_bound": (_iw_with_log_prob := lambda model, x, eps: S4["iw_bound"](model, x, eps) + 0 * torch.distributions.Normal(
        0.0, 1.0).log_prob(eps).sum(), "torch.distributions.normal.Normal.log_prob"),
    "effective_beta": (lambda *args: __import__("vaecourse.checks.evaluation", fromlist=["_"]).reference_effective_beta(
        *args), "vaecourse.checks.evaluation.reference_effective_beta"),
}


@pytest.mark.parametrize("name", sorted(SHORTCUTS))
def test_calling_the_reference_scores_zero_with_the_reason(name):
    func, called = SHORTCUTS[name]
    message = _fail(name, func)
    assert message.startswith(f"your function calls `{called}`, which this exercise asks you to write yourself")


def test_a_shortcut_that_catches_the_error_still_scores_zero():
    def sneaky(mu, logvar, reduction="sum"):
        try:
            return losses.kl_divergence(mu, logvar, reduction)
        except Exception:  # noqa: BLE001
            return S2["kl_divergence"](mu, logvar, reduction)

    assert "vaecourse.losses.kl_divergence" in _fail("kl_divergence", sneaky)
    mu = torch.zeros(2, 3)
    assert losses.kl_divergence(mu, mu).item() == 0.0  # the reference works again after the check


def test_an_alias_bound_before_the_check_is_caught():
    from vaecourse.losses import free_bits_kl as bound_early

    assert "free_bits_kl" in _fail("free_bits", lambda kl, free_bits: bound_early(kl, free_bits))


def _hard_coded(name):
    """A function that answers the released inputs from a table and returns a constant otherwise."""
    seen = {}

    def record(*args, **kwargs):
        try:
            value = REFERENCE[name](*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - e.g. the ValueError an unknown reduction must raise
            value = e
        seen[repr((args, sorted(kwargs.items())))] = value
        if isinstance(value, Exception):
            raise value
        return value

    assert run_check(name, record).status == "pass"

    def replay(*args, **kwargs):
        value = seen.get(repr((args, sorted(kwargs.items()))), torch.tensor(1.0))
        if isinstance(value, Exception):
            raise value
        return value

    return replay


# reparameterize: a stored answer carries no gradient to the new mu and logvar, so it fails even the released inputs
@pytest.mark.parametrize("name", [n for n in RELEASED
                                  if n not in TRAINING | {"latent_analogy", "recon_errors", "reparameterize"}])
def test_answers_hard_coded_for_the_released_inputs_fail_the_hidden_ones(name):
    replay = _hard_coded(name)
    assert run_check(name, replay).status == "pass"  # in the notebook the table is right
    with hidden_seed(20261204):
        message = _fail(name, replay)
        assert message.startswith("right on the released inputs, wrong on the grader's hidden ones")
        assert run_check(name, REFERENCE[name]).status == "pass"  # the solution passes the hidden inputs


def test_hidden_inputs_depend_on_the_instructor_seed():
    from vaecourse.checks.objective import _posterior

    released = _posterior(0)[0]
    with hidden_seed(1), guard.exercise((), guard.hidden_variant("kl_divergence")):
        first = _posterior(0)[0]
    with hidden_seed(2), guard.exercise((), guard.hidden_variant("kl_divergence")):
        second = _posterior(0)[0]
    assert not torch.equal(released, first) and not torch.equal(first, second)


def test_partial_credit_names_the_wrong_part_with_its_hint():
    def mean_per_example(x_hat, x, reduction="sum"):
        if reduction == "mean":  # the usual slip: a mean per image instead of per element
            return S1["bce_loss"](x_hat, x, "none").mean()
        return S1["bce_loss"](x_hat, x, reduction)

    result = run_check("recon_bce", mean_per_example)
    assert result.status == "fail" and result.score == round(3.5 / 4.5, 4)  # parts 1, 1, 1, ½, 1
    assert result.message.startswith("[reduction='mean'] on bce_loss(x_hat, x, reduction='mean')")
    assert "'mean' averages over every element" in result.message  # the hint of the failing part
    assert result.message.endswith("(4 of 5 parts right)")
    assert run_check("recon_bce", S1["bce_loss"]).fraction == 1.0
    assert run_check("recon_bce", lambda *a, **k: None).fraction == 0.0


def test_a_shortcut_in_one_part_scores_zero_for_the_whole_exercise():
    def mixed(x_hat, x, reduction="sum"):
        if reduction == "none":
            return F.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(1)
        return S1["bce_loss"](x_hat, x, reduction)

    result = run_check("recon_bce", mixed)
    assert result.fraction == 0.0 and "binary_cross_entropy" in result.message


def _constant(name):
    """A function that returns what the solution returns on the first released input, whatever it is given."""
    first = []

    def record(*args, **kwargs):
        first.append(REFERENCE[name](*args, **kwargs))
        raise NotImplementedError

    run_check(name, record)
    return lambda *args, **kwargs: first[0]


@pytest.mark.parametrize("name", [n for n in RELEASED if n not in TRAINING])
def test_a_constant_answer_scores_zero_when_graded(name):
    constant = _constant(name)
    with hidden_seed(7):
        result = run_check(name, constant)
    assert result.fraction == 0.0, result


def test_a_forbidden_name_missing_from_this_torch_is_skipped():
    with guard.exercise(("torch.nn.functional.no_such_loss", "no_such_module.f"), None), guard.learner_code() as hits:
        assert torch.ones(2).sum().item() == 2.0
    assert hits == []
