"""Small, offline, deterministic data for the checks that train a model."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import Tensor

from vaecourse.data import load_dataset


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[Tensor, Tensor, Tensor]:
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    return train.images, test.images, test.labels


def digits_split() -> tuple[Tensor, Tensor]:
    """(x_train (1500, 1, 8, 8), x_test (297, 1, 8, 8)): scikit-learn's digits, shipped offline."""
    x_train, x_test, _ = _digits()
    return x_train.clone(), x_test.clone()


# Reference runs of the training checks, by key. A grader computes each once for the whole class
# (`precompute`) and hands them to every submission's kernel; a learner's notebook computes its own.
REFERENCE_RESULTS: dict[str, Any] = {}


def remembered(key: str, compute: Callable[[], Any]) -> Any:
    """compute() (a JSON-able value), remembered under `key`."""
    if key not in REFERENCE_RESULTS:
        REFERENCE_RESULTS[key] = compute()
    return REFERENCE_RESULTS[key]
