"""The machinery behind every self-check: results, the registry, and comparisons with hints.

A check receives the learner's function and raises `Mismatch` with a helpful message when an
answer is wrong. `run_check` turns that into a `Result`: ✅ pass, ❌ fail, ⏳ todo (the stub
still raises NotImplementedError). Every message is deterministic text (no addresses, no
timings, no unseeded numbers) so that nbval can compare it.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from vaecourse.checks import guard

ICONS = {"pass": "✅", "fail": "❌", "todo": "⏳", "missing": "⏳"}
TODO_MESSAGE = "not attempted yet (the function still raises NotImplementedError)"


class Mismatch(Exception):
    """A wrong answer; the message says what was expected, on which input, and a hint."""


class Shortcut(Mismatch):
    """The learner's function called what the exercise asks them to write: 0 points, whatever it returned."""


@dataclass(frozen=True)
class Result:
    """The outcome of one check. status: "pass", "fail", "todo", or "missing" (not defined)."""

    name: str
    status: str
    message: str
    score: float | None = None  # the fraction of the points earned when some parts are right (None: all or nothing)

    @property
    def fraction(self) -> float:
        """The fraction of the exercise's points this result earns."""
        return 1.0 if self.status == "pass" else (self.score or 0.0)

    def line(self) -> str:
        """The one line a check cell prints, e.g. "✅ recon_bce: correct"."""
        return f"{ICONS[self.status]} {self.name}: {self.message}"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Exercise:
    """One gradable exercise: the learner writes `function`; `run(function)` checks it."""

    name: str
    assignment: str  # the notebook's name, e.g. "01_reconstruction_losses"
    function: str  # the name the learner's function has in the notebook
    points: float
    run: Callable[[Callable], None]
    success: str = "correct"
    forbidden: tuple[str, ...] = ()  # dotted names the learner's function must not call (see guard)

    @property
    def check_source(self) -> str:
        """The released check cell, exactly as the generator writes it."""
        return f'# NBVAL_CHECK_OUTPUT\ncheck("{self.name}", {self.function})'


REGISTRY: dict[str, Exercise] = {}


def register(
    name: str, *, assignment: str, function: str, points: float = 1.0, success: str = "correct",
    forbidden: tuple[str, ...] = (),
) -> Callable[[Callable], Callable]:
    """Decorator: register `run(learner_function)` as the check called `name`."""

    def decorator(run: Callable[[Callable], None]) -> Callable[[Callable], None]:
        if name in REGISTRY and REGISTRY[name].run is not run:
            raise ValueError(f"A check called {name!r} is already registered.")
        REGISTRY[name] = Exercise(name, assignment, function, float(points), run, success, tuple(forbidden))
        return run

    return decorator


def exercises_for(assignment: str) -> list[Exercise]:
    """The exercises of one notebook, in the order they were registered."""
    return [ex for ex in REGISTRY.values() if ex.assignment == assignment]


@contextlib.contextmanager
def quiet():
    """Hide prints, progress bars and warnings from the learner's code: check output stays one line."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


def describe_error(error: BaseException) -> str:
    """'TypeError: message' with memory addresses removed and the length capped."""
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", str(error)).strip()
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def call(func: Callable, *args: Any, case: str, **kwargs: Any) -> Any:
    """func(*args, **kwargs); a learner's exception becomes a Mismatch naming the input `case`.

    While it runs, what the exercise forbids is poisoned: calling it is a Shortcut (0 points),
    even if the learner's function catches the error.
    """
    error = None
    with guard.learner_code() as hits:
        try:
            got = func(*args, **kwargs)
        except (NotImplementedError, Mismatch):
            raise
        except Exception as e:  # noqa: BLE001
            got, error = None, e
    guard.record_output(got if error is None else type(error).__name__)
    if hits:
        raise Shortcut(shortcut_message(hits))
    if error is not None:
        raise Mismatch(f"on {case}, your function raised {describe_error(error)}") from None
    return got


def shortcut_message(hits: Sequence[str]) -> str:
    """Why a function that calls a forbidden one scores 0."""
    names = ", ".join(f"`{h}`" for h in hits)
    return (f"your function calls {names}, which this exercise asks you to write yourself; a shortcut "
            "scores 0 for the exercise, however right its values. Write the computation with torch operations.")


# ---- formatting -------------------------------------------------------------------------------

def fmt(value: Any) -> str:
    """A short, deterministic rendering of a number, tensor or other value."""
    if isinstance(value, Tensor):
        if value.dim() == 0:
            return _num(value.item())
        if value.numel() <= 8:
            body = ", ".join(_num(v) for v in value.detach().flatten().tolist())
            return f"[{body}] (shape {shape_str(value)})"
        return f"a tensor of shape {shape_str(value)}"
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return _num(value)
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _num(v: float) -> str:
    return f"{v:.5g}" if isinstance(v, float) else str(v)


def shape_str(t: Tensor) -> str:
    return str(tuple(t.shape))


# ---- comparisons ------------------------------------------------------------------------------

Hint = tuple[Callable[[Tensor, Tensor], bool], str]


def scaled(factor: float, message: str) -> Hint:
    """A hint that applies when got × factor matches the expected value."""
    return (lambda got, expected: _close(got * factor, expected), message)


def matches(other: Tensor, message: str) -> Hint:
    """A hint that applies when the learner's value equals `other` (a known wrong answer)."""
    return (lambda got, expected: got.shape == other.shape and _close(got, other), message)


def _close(a: Tensor, b: Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    if a.shape != b.shape:
        return False
    return bool(torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol, equal_nan=False))


def expect_tensor(
    got: Any,
    expected: Tensor,
    *,
    case: str,
    hints: Sequence[Hint] = (),
    shape_hint: str = "",
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """Raise Mismatch unless `got` is a tensor of expected's shape with close values."""
    if not isinstance(got, Tensor):
        raise Mismatch(
            f"on {case}: expected a tensor of shape {shape_str(expected)}, got {fmt(got)} "
            f"(type {type(got).__name__}). Return a torch tensor, not a Python number or array."
        )
    if got.shape != expected.shape:
        hint = f" Hint: {shape_hint}" if shape_hint else ""
        raise Mismatch(f"on {case}: expected shape {shape_str(expected)}, got shape {shape_str(got)}.{hint}")
    got = got.detach().cpu()
    if _close(got, expected, rtol, atol):
        return
    message = f"on {case}: expected {fmt(expected)}, got {fmt(got)}."
    if expected.numel() > 8:
        message = f"on {case}: wrong values in the result of shape {shape_str(expected)}; {_worst(got, expected)}."
    if not torch.isfinite(got).all():
        message += " Your value has nan or inf where the true value is finite."
    hint = next((text for applies, text in hints if _safe(applies, got, expected)), None)
    raise Mismatch(message + (f" Hint: {hint}" if hint else ""))


def _worst(got: Tensor, expected: Tensor) -> str:
    """Where the largest difference is, e.g. "at index (0, 2): expected 0.5, got 1.5"."""
    diff = (got.double() - expected.double()).abs().nan_to_num(nan=float("inf"))
    index = tuple(int(i) for i in torch.unravel_index(torch.argmax(diff), diff.shape))
    return f"at index {index}: expected {_num(expected[index].item())}, got {_num(got[index].item())}"


def _safe(applies: Callable[[Tensor, Tensor], bool], got: Tensor, expected: Tensor) -> bool:
    try:
        return applies(got, expected)
    except Exception:  # noqa: BLE001 - a hint that cannot be evaluated does not apply
        return False


def expect_number(
    got: Any, expected: float, *, case: str, hints: Sequence[Hint] = (), rtol: float = 1e-4, atol: float = 1e-6
) -> None:
    """Raise Mismatch unless `got` is a real number (or 0-d tensor) close to `expected`."""
    if isinstance(got, Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)) or math.isnan(float(got)):
        raise Mismatch(f"on {case}: expected the number {fmt(expected)}, got {fmt(got)}.")
    expect_tensor(torch.tensor(float(got), dtype=torch.float64), torch.tensor(float(expected), dtype=torch.float64),
                  case=case, hints=hints, rtol=rtol, atol=atol)


def expect_raises(func: Callable, error: type[Exception], *args: Any, case: str, why: str, **kwargs: Any) -> None:
    """Raise Mismatch unless func(*args, **kwargs) raises `error` (and calls nothing forbidden)."""
    raised = None
    with guard.learner_code() as hits:
        try:
            func(*args, **kwargs)
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001
            raised = e
    if hits:
        raise Shortcut(shortcut_message(hits))
    if isinstance(raised, error):
        return
    if raised is not None:
        raise Mismatch(f"on {case}: expected {error.__name__}, got {describe_error(raised)}. {why}")
    raise Mismatch(f"on {case}: expected {error.__name__} but nothing was raised. {why}")


@contextlib.contextmanager
def seeded_single_thread(seed: int = 0):
    """Global seed `seed` and one torch thread, both restored afterwards (fast on a busy CPU)."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(guard.variant_seed(seed))
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


def seeded(seed: int) -> torch.Generator:
    """A CPU generator: check inputs never depend on the global random state (hidden variants vary them)."""
    return torch.Generator().manual_seed(guard.variant_seed(seed))
