"""A model that takes its time, for tests that must catch a request in flight (kill -9 tests)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np


class SlowRegressor:
    """Predicts ``x1 * 2`` for each row after sleeping ``delay`` seconds per call."""

    def __init__(self, delay: float = 0.5) -> None:
        self.delay = delay

    def fit(self, X: Any, y: Any = None) -> SlowRegressor:
        return self

    def predict(self, X: Any) -> np.ndarray:
        time.sleep(self.delay)
        return np.asarray(X["x1"] if hasattr(X, "columns") else np.asarray(X)[:, 0], dtype=float) * 2.0


def slow_package(path: Path, delay: float = 0.5) -> Path:
    """Save a :class:`SlowRegressor` as a model package folder at ``path``."""
    from forgeml.registry.package import save_model

    save_model(SlowRegressor(delay), path, task="regression", inputs=[{"name": "x1", "type": "float64"}, {"name": "x2", "type": "int64"}])
    return path


__all__ = ["SlowRegressor", "slow_package"]
