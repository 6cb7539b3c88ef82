"""Fixtures of the training tests: small synthetic classification and regression datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forgeml.core.workspace import Workspace


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Four numeric features, a binary label ``y`` and a continuous target ``amount``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["y"] = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    frame["amount"] = 3.0 * X[:, 0] - 2.0 * X[:, 2] + rng.normal(scale=0.3, size=n)
    return frame


@pytest.fixture
def datasets(ws: Workspace) -> dict[str, str]:
    """Datasets ``tr`` (300 rows) and ``va`` (100 rows) in the workspace; returns channel refs."""
    frame = make_frame(400)
    ws.datasets.create("tr", frame.iloc[:300].reset_index(drop=True))
    ws.datasets.create("va", frame.iloc[300:].reset_index(drop=True))
    return {"train": "dataset/tr", "validation": "dataset/va"}
