"""Partial credit: a check split into parts earns the points of each part that is right.

    @register("recon_mse", ..., points=2)
    def check_mse(mse_loss):
        with part("reduction='sum'"):
            ...  # raise Mismatch(...) when this part is wrong
        with part("differentiable", weight=0.5):
            ...

A failing part is recorded with its message (the hint) and the check goes on to the next
part; a shortcut (calling what the exercise forbids) still scores 0 for the whole exercise.
A check without parts is all or nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from vaecourse.checks import guard
from vaecourse.checks.core import Mismatch, Shortcut


@contextlib.contextmanager
def part(label: str, weight: float = 1.0) -> Iterator[None]:
    """Grade the block as one part called `label`, worth `weight` relative to the other parts."""
    try:
        yield
    except Shortcut:
        raise
    except Mismatch as e:
        guard.record_part(label, weight, str(e))
    else:
        guard.record_part(label, weight, None)
