"""Model Monitor's ``{"value", "standard_deviation"}`` metric entries (reference §10.8).

The standard deviation is reported only with at least 200 samples: the metric is computed on 5
random 80 % samples (without replacement, fixed seed) and their population standard deviation is
taken. Below 200 samples it is the string "NaN", as Model Monitor writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

MIN_SAMPLES_FOR_STD = 200
STD_DRAWS = 5
STD_FRACTION = 0.8


def finite(value: float) -> float | str:
    """A float for JSON: NaN and ±inf become "NaN" / "Infinity" / "-Infinity"."""
    value = float(value)
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def with_std(
    fn: Callable[..., float], arrays: tuple[np.ndarray, ...], *, seed: int = 0
) -> dict[str, Any]:
    """``{"value": fn(*arrays), "standard_deviation": std over 5 x 80 % samples or "NaN"}``."""
    value = float(fn(*arrays))
    n = len(arrays[0])
    if n < MIN_SAMPLES_FOR_STD:
        return {"value": finite(value), "standard_deviation": "NaN"}
    rng = np.random.default_rng(seed)
    size = int(n * STD_FRACTION)
    draws = []
    for _ in range(STD_DRAWS):
        idx = rng.choice(n, size=size, replace=False)
        try:
            draws.append(float(fn(*(a[idx] for a in arrays))))
        except ValueError:  # e.g. one class only in a sample
            continue
    std = float(np.std(draws)) if len(draws) >= 2 else float("nan")
    return {"value": finite(value), "standard_deviation": finite(std)}


__all__ = ["MIN_SAMPLES_FOR_STD", "finite", "with_std"]
