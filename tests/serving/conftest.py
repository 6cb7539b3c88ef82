"""Model packages for the serving tests: small real scikit-learn models saved as packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from forgeml.registry.package import save_model

INPUTS = [{"name": "x1", "type": "float64"}, {"name": "x2", "type": "int64"}, {"name": "color", "type": "object"}]


def training_frame(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x1": rng.normal(size=n),
        "x2": rng.integers(0, 10, size=n),
        "color": rng.choice(["red", "green", "blue"], size=n).astype(object),
    })  # fmt: skip
    y = ((frame["x1"] + (frame["color"] == "red") * 1.5 + frame["x2"] / 10) > 0.8).astype(int)
    return frame, y


def logistic_package(path: Path) -> Path:
    """A pipeline (one-hot + logistic regression) that raises on missing numbers: a model error."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, y = training_frame()
    pre = ColumnTransformer([("num", "passthrough", ["x1", "x2"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["color"])])
    model = make_pipeline(pre, LogisticRegression()).fit(frame, y)
    save_model(model, path, task="binary", inputs=INPUTS, target="y", classes=[0, 1])
    return path


def recipe_package(path: Path) -> Path:
    """Logistic regression behind a fitted ForgeML recipe (median imputation, one-hot encoding)."""
    from sklearn.linear_model import LogisticRegression

    from forgeml.data.recipes import Recipe

    frame, y = training_frame()
    fitted = Recipe([
        {"type": "impute", "strategy": "median", "columns": ["x1"]}, {"type": "encode", "method": "onehot"},
    ]).fit(frame)  # fmt: skip
    model = LogisticRegression().fit(fitted.transform(frame), y)
    save_model(model, path, task="binary", inputs=INPUTS, target="y", classes=[0, 1], recipe=fitted.to_dict())
    return path


def tree_package(path: Path, *, depth: int = 3, seed: int = 0) -> Path:
    """A regression tree on the two numeric columns (a different output shape)."""
    from sklearn.tree import DecisionTreeRegressor

    frame, y = training_frame(seed=seed)
    X = frame[["x1", "x2"]]
    model = DecisionTreeRegressor(max_depth=depth, random_state=seed).fit(X, y * 10.0 + frame["x1"])
    save_model(model, path, task="regression", inputs=INPUTS[:2], target="y")
    return path


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("packages")
    return {
        "logistic": logistic_package(root / "logistic"), "tree": tree_package(root / "tree"),
        "recipe": recipe_package(root / "recipe"),
    }  # fmt: skip


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multi-model folder: three tree packages of different depths (so different sizes)."""
    root = tmp_path_factory.mktemp("mme")
    for i, depth in enumerate((2, 4, 6)):
        tree_package(root / f"tree-{depth}", depth=depth, seed=i)
    return root
