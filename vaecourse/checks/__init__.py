"""Self-checks for the exercise notebooks: ✅ correct, ❌ with a hint, ⏳ not attempted yet.

In a notebook, after the cell that defines `bce_loss`:

    from vaecourse.checks import check
    check("recon_bce", bce_loss)   # prints one deterministic line

The same checks grade whole classes (`python -m vaecourse.grade`). Instructors can add
checks of their own in a file that stays out of the student repository:

    from vaecourse.checks import Mismatch, register

    @register("bce_big_batch", assignment="01_reconstruction_losses", function="bce_loss", points=1)
    def bce_big_batch(bce_loss):
        ...  # raise Mismatch("on ...: expected ..., got ...") when the answer is wrong
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# Importing a lesson's module registers its checks; the order of the lessons is ASSIGNMENTS.
from vaecourse.checks import evaluation, latent, objective, recon
from vaecourse.checks.core import REGISTRY, Exercise, Mismatch, Result, Shortcut, exercises_for, register
from vaecourse.checks.runner import run_check
from vaecourse.checks.guard import hidden_seed, set_hidden_seed

ASSIGNMENTS = (recon.ASSIGNMENT, objective.ASSIGNMENT, latent.ASSIGNMENT, evaluation.ASSIGNMENT)

__all__ = [
    "ASSIGNMENTS", "REGISTRY", "Exercise", "Mismatch", "Result", "Shortcut", "check", "exercises_for",
    "grade_in_namespace", "hidden_seed", "load_extra_checks", "register", "run_check", "set_hidden_seed",
    "skip_if_unfinished",
]


def check(name: str, func: Any) -> None:
    """Print ✅, ❌ with a hint, or ⏳ for the learner's `func` on exercise `name`."""
    print(run_check(name, func).line())


@contextlib.contextmanager
def skip_if_unfinished() -> Iterator[None]:
    """Run a demo that uses an exercise; while that exercise is a stub, say so instead of failing."""
    try:
        yield
    except NotImplementedError as e:
        print(f"⏳ skipped: finish the exercise first ({e or 'NotImplementedError'}).")


def grade_in_namespace(name: str, namespace: Mapping[str, Any]) -> Result:
    """Run check `name` on the function of that name in `namespace` (a notebook's globals)."""
    function = REGISTRY[name].function
    if function not in namespace:
        return Result(name, "missing", f"`{function}` is not defined in the notebook.")
    return run_check(name, namespace[function])


def load_extra_checks(path: str | Path) -> list[Exercise]:
    """Import an instructor's file of `@register`ed checks; returns the exercises it added."""
    path = Path(path).resolve()
    before = set(REGISTRY)
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    spec = importlib.util.spec_from_file_location(f"vaecourse_extra_checks_{digest}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot load extra checks from {path}: expected a .py file.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [REGISTRY[name] for name in REGISTRY if name not in before]
