"""What keeps a check honest while a learner's function runs: forbidden calls and hidden inputs.

Forbidden calls: an exercise names the functions it asks the learner to write themselves (the
course's reference in `vaecourse.losses`, or the library function it replaces, such as
`torch.nn.functional.binary_cross_entropy`). While the learner's function runs, each of them is
poisoned in place: its code object is swapped for one that records the call and raises, so an
alias bound before the check (`from vaecourse.losses import kl_divergence as ref`) is caught too.
Everything is restored as soon as the learner's function returns.

Hidden variants: when grading, the instructor sets a hidden seed; every check then also runs
on inputs derived from it (`variant_seed`), which the learner never saw.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
from collections.abc import Iterator
from types import CodeType, FunctionType
from typing import Any

_HITS: list[str] = []  # forbidden functions called since the learner's function started
_STATE: dict[str, Any] = {"forbidden": (), "variant": None, "hidden_seed": None, "parts": [], "outputs": []}


class ForbiddenCall(Exception):
    """Raised inside the learner's function when it calls what the exercise asks them to write."""


def forbidden_call(name: str) -> ForbiddenCall:
    """Record a call of the forbidden `name`; the exception the poisoned function raises."""
    _HITS.append(name)
    return ForbiddenCall(f"{name} is not allowed in this exercise")


def _poisoned_code(name: str) -> CodeType:
    """A code object that calls forbidden_call(name); it only uses builtins (it runs with foreign globals)."""
    def poisoned(*args, **kwargs):  # noqa: ANN002, ANN003 - any signature
        raise __import__("vaecourse.checks.guard", fromlist=["_"]).forbidden_call(
            __import__("sys")._getframe().f_code.co_name)
    return poisoned.__code__.replace(co_name=name)


def resolve(dotted: str) -> tuple[Any, str, Any]:
    """(owner, attribute, object) for "package.module.Class.attr"; the longest importable prefix is the module."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ImportError(f"cannot resolve {dotted!r}")


@contextlib.contextmanager
def _poisoned(names: tuple[str, ...]) -> Iterator[None]:
    """Swap the code of each Python function in `names` (attribute-patch builtins); restore afterwards."""
    saved: list[tuple[Any, ...]] = []
    try:
        for name in names:
            try:
                owner, attr, obj = resolve(name)
            except (ImportError, AttributeError):  # not in this version of torch: nothing to call
                continue
            inner = inspect.unwrap(obj) if callable(obj) else obj
            if isinstance(inner, FunctionType) and not inner.__code__.co_freevars:
                saved.append(("code", inner, inner.__code__))
                inner.__code__ = _poisoned_code(name)
            else:  # a builtin or a closure: poison the attribute the learner looks up
                saved.append(("attr", owner, attr, obj, attr in vars(owner)))
                setattr(owner, attr, FunctionType(_poisoned_code(name), {"__builtins__": __builtins__}))
        yield
    finally:
        for kind, *rest in reversed(saved):
            if kind == "code":
                rest[0].__code__ = rest[1]
            elif rest[3]:
                setattr(rest[0], rest[1], rest[2])
            else:  # it was inherited (e.g. torch.Tensor.lerp from the C base class): remove the patch
                delattr(rest[0], rest[1])


@contextlib.contextmanager
def learner_code() -> Iterator[list[str]]:
    """Around one call of the learner's function: yields the list of forbidden functions it called."""
    _HITS.clear()
    hits: list[str] = []
    with _poisoned(tuple(_STATE["forbidden"])):
        try:
            yield hits
        finally:
            hits.extend(dict.fromkeys(_HITS))
            _HITS.clear()


@contextlib.contextmanager
def exercise(forbidden: tuple[str, ...], variant: int | None) -> Iterator[None]:
    """The state one check runs in: what the learner may not call and which inputs (None: released)."""
    saved = {key: _STATE[key] for key in ("forbidden", "variant", "parts", "outputs")}
    _STATE.update(forbidden=forbidden, variant=variant, parts=[], outputs=[])
    try:
        yield
    finally:
        _STATE.update(saved)


def record_output(value: Any) -> None:
    """Note what the learner's function returned (see `outputs`)."""
    _STATE["outputs"].append(fingerprint(value))


def outputs() -> list:
    """What the learner's function returned in the running check, as comparable fingerprints."""
    return list(_STATE["outputs"])


def fingerprint(value: Any) -> Any:
    """A comparable summary of a returned value: rounded numbers, shapes, nested containers."""
    if hasattr(value, "detach") and hasattr(value, "shape"):
        flat = value.detach().cpu().double().flatten()
        return ("tensor", tuple(value.shape), tuple(round(v, 6) for v in flat[:1000].tolist()))
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (list, tuple)):
        return tuple(fingerprint(v) for v in value)
    if isinstance(value, dict):
        return tuple((repr(k), fingerprint(v)) for k, v in value.items())
    return value if isinstance(value, (int, str, bool, type(None))) else type(value).__name__


def parts() -> list[tuple[str, float, str | None]]:
    """(label, weight, failure message or None) of each part the running check has graded so far."""
    return list(_STATE["parts"])


def record_part(label: str, weight: float, message: str | None) -> None:
    """Note the outcome of one part of the running check (see checks.parts.part)."""
    _STATE["parts"].append((label, weight, message))


def variant() -> int | None:
    """None for the released inputs, else the hidden variant the check is running."""
    return _STATE["variant"]


def variant_seed(seed: int) -> int:
    """`seed` for the released inputs; a hidden seed derived from it (and the variant) otherwise."""
    v = _STATE["variant"]
    if v is None:
        return seed
    return int(hashlib.sha256(f"{v}:{seed}".encode()).hexdigest()[:8], 16)


def set_hidden_seed(seed: int | None) -> None:
    """Grading: also run every check on hidden inputs from `seed` (None: released inputs only)."""
    _STATE["hidden_seed"] = seed


def hidden_variant(name: str) -> int | None:
    """The hidden variant of exercise `name` for this grading run, or None outside grading."""
    seed = _STATE["hidden_seed"]
    if seed is None:
        return None
    return int(hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()[:8], 16)


@contextlib.contextmanager
def hidden_seed(seed: int | None) -> Iterator[None]:
    """set_hidden_seed(seed) for a block (tests, or a grader running checks in-process)."""
    saved = _STATE["hidden_seed"]
    set_hidden_seed(seed)
    try:
        yield
    finally:
        set_hidden_seed(saved)


__all__ = ["ForbiddenCall", "exercise", "fingerprint", "hidden_seed", "hidden_variant", "learner_code", "outputs",
           "parts", "record_output", "record_part", "set_hidden_seed", "variant", "variant_seed"]
