"""Running a check: released inputs, then (when grading) hidden ones; parts, shortcuts and constants.

`run_check(name, func)` is what a check cell and the grader call. The verdict is the lower of the
released and the hidden run; a function that returns the same values on both, whatever its
inputs, scores 0; so does one that calls what its exercise forbids (see guard.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vaecourse.checks import guard
from vaecourse.checks.core import REGISTRY, TODO_MESSAGE, Exercise, Mismatch, Result, describe_error, quiet


def run_check(name: str, func: Any) -> Result:
    """Check `func` against exercise `name`; never raises for a learner's mistake.

    The released inputs always; when grading (a hidden seed is set), hidden inputs as well.
    """
    exercise = REGISTRY[name]
    if not callable(func):
        found = "nothing" if func is None else f"a {type(func).__name__}"
        return Result(name, "fail", f"expected the function `{exercise.function}`, got {found}.")
    released, seen = _run_variant(exercise, func, None)
    variant = guard.hidden_variant(name)
    if released.status == "todo" or variant is None:
        return released
    hidden, seen_hidden = _run_variant(exercise, func, variant)
    if hidden.status == "pass":
        return released
    if seen and seen == seen_hidden and released.fraction > 0:
        return Result(name, "fail", "your function returns the same values on the grader's hidden inputs as on the "
                                    "released ones, whatever its inputs: a constant answer scores 0.", 0.0)
    if hidden.fraction >= released.fraction:
        return released
    if released.status == "pass":
        return Result(name, "fail", f"right on the released inputs, wrong on the grader's hidden ones: "
                                    f"{hidden.message} A function that works for any input passes both.", hidden.score)
    return Result(name, "fail", f"on the grader's hidden inputs: {hidden.message}", hidden.score)


def run_variants(exercise: Exercise, func: Callable) -> list[Result]:
    """The results on the released inputs and, when grading, on the hidden ones (no verdict drawn)."""
    hidden = guard.hidden_variant(exercise.name)
    return [_run_variant(exercise, func, v)[0] for v in ([None] if hidden is None else [None, hidden])]


def _run_variant(exercise: Exercise, func: Callable, variant: int | None) -> tuple[Result, list]:
    """The result of one run of the check (released inputs, or a hidden variant) and what func returned."""
    name = exercise.name
    seen: list = []
    with quiet(), guard.exercise(exercise.forbidden, variant):
        try:
            exercise.run(func)
        except NotImplementedError:
            return Result(name, "todo", TODO_MESSAGE), seen
        except Mismatch as e:
            return Result(name, "fail", str(e)), guard.outputs()
        except Exception as e:  # noqa: BLE001 - a learner's error must become feedback
            return Result(name, "fail", f"`{exercise.function}` raised {describe_error(e)}"), guard.outputs()
        parts, seen = guard.parts(), guard.outputs()
    failed = [(label, message) for label, _, message in parts if message is not None]
    if not failed:
        return Result(name, "pass", exercise.success), seen
    earned = sum(weight for _, weight, message in parts if message is None) / sum(w for _, w, _ in parts)
    (label, message), others = failed[0], [label for label, _ in failed[1:]]
    tally = f"{len(parts) - len(failed)} of {len(parts)} parts right" + (f"; also wrong: {', '.join(others)}"
                                                                         if others else "")
    return Result(name, "fail", f"[{label}] {message} ({tally})", round(earned, 4)), seen


