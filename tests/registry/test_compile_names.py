"""ONNX compilation of models fitted on frames with real column names, for every supported library,
the built-in algorithms and the demo's own model, plain and quantized (with the deviation check).

The older compile tests name their columns ``f0..fN``, the one spelling the XGBoost converter
understands; here the names have spaces, dots, non-ASCII letters, and ``f``-names out of order
(``f2`` first), which a converter that reads names as positions would silently mix up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from forgeml.core.workspace import Workspace
from forgeml.registry import compile_package, load_model, save_model

NAMES = ["annual income", "debt.ratio", "größe", "f2", "f0", "f1"]


def named_frame(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(NAMES))), columns=NAMES)
    y = (X["annual income"] + 0.5 * X["debt.ratio"] - X["f2"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return X, y


def _estimator(name: str) -> tuple[Any, str]:
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier, XGBRegressor

    by_name = ColumnTransformer([("scaled", StandardScaler(), ["annual income", "größe"]), ("kept", "passthrough", ["f2", "debt.ratio"])])
    return {
        "xgboost": (XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1), "binary"),
        "xgboost-regressor": (XGBRegressor(n_estimators=20, max_depth=3, n_jobs=1), "regression"),
        "xgboost-multiclass": (XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1), "multiclass"),
        "lightgbm": (LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1), "binary"),
        "lightgbm-regressor": (LGBMRegressor(n_estimators=20, verbose=-1, n_jobs=1), "regression"),
        "hist-gradient-boosting": (HistGradientBoostingClassifier(max_iter=20, random_state=0), "binary"),
        "random-forest-regressor": (RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0), "regression"),
        "pipeline": (make_pipeline(StandardScaler(), LogisticRegression()), "binary"),
        "column-transformer-by-name": (make_pipeline(by_name, LogisticRegression()), "binary"),
        "pipeline-xgboost": (make_pipeline(StandardScaler(), XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1)), "binary"),
        "pipeline-lightgbm": (make_pipeline(StandardScaler(), LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1)), "binary"),
        "pipeline-hist-gradient-boosting": (make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=20, random_state=0)), "binary"),
    }[name]


def _target(task: str, X: pd.DataFrame, y: pd.Series) -> pd.Series:
    if task == "regression":
        return X["annual income"] * 2 + X["f0"]
    if task == "multiclass":
        return pd.cut(X["annual income"] + X["f2"], [-np.inf, -0.7, 0.7, np.inf], labels=False)
    return y


def _column(task: str) -> str:
    return {"binary": "score", "regression": "prediction", "multiclass": "probability"}[task]


@pytest.mark.parametrize("quantize", [False, True], ids=["float", "quantized"])
@pytest.mark.parametrize(
    "name",
    ["xgboost", "xgboost-regressor", "xgboost-multiclass", "lightgbm", "lightgbm-regressor", "hist-gradient-boosting",
     "random-forest-regressor", "pipeline", "column-transformer-by-name", "pipeline-xgboost", "pipeline-lightgbm",
     "pipeline-hist-gradient-boosting"],
)  # fmt: skip
def test_models_fitted_on_real_column_names_compile(tmp_path: Path, name: str, quantize: bool) -> None:
    model, task = _estimator(name)
    X, y = named_frame(400, seed=0)
    model.fit(X, _target(task, X, y))
    save_model(model, tmp_path / "src", task=task, inputs=[{"name": c, "type": "float64"} for c in NAMES])
    holdout = named_frame(200, seed=11)[0]
    report = compile_package(tmp_path / "src", tmp_path / "onnx", holdout, quantize=quantize)
    assert report["max_abs_deviation"] <= report["tolerance"] == (0.05 if quantize else 1e-4)
    col = _column(task)
    original = load_model(tmp_path / "src").predict(holdout)[col].to_numpy()
    compiled = load_model(tmp_path / "onnx", trusted=False).predict(holdout)[col].to_numpy()
    np.testing.assert_allclose(compiled, original, atol=report["tolerance"] * max(1.0, float(np.abs(original).max())))


def test_names_never_reach_the_converters_and_the_model_is_left_alone() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier

    from forgeml.registry._onnx import estimators, positional

    X, y = named_frame(100, seed=1)
    xgb = XGBClassifier(n_estimators=3, n_jobs=1).fit(X, y)
    assert positional(xgb).get_booster().feature_names is None and xgb.get_booster().feature_names == NAMES
    pipe = make_pipeline(ColumnTransformer([("s", StandardScaler(), ["größe", "f2"])], remainder="passthrough"), LogisticRegression()).fit(X, y)
    ct = next(p for p in estimators(positional(pipe)) if isinstance(p, ColumnTransformer))
    assert ct.transformers_[0][2] == [2, 3]
    assert pipe.steps[0][1].transformers_[0][2] == ["größe", "f2"]


# the built-in algorithms, trained as jobs ----------------------------------------------------
BUILT_INS = {
    "xgboost": {"num_round": 15},
    "lightgbm": {"num_boost_round": 15},
    "linear-learner": {"epochs": 3},
    "random-forest": {"num_trees": 10},
    "knn": {"k": 5},
    "kmeans": {"k": 3},
    "isolation-forest": {"num_trees": 20},
}


@pytest.mark.parametrize("algorithm", list(BUILT_INS))
def test_every_built_in_algorithm_compiles_with_real_column_names(ws: Workspace, algorithm: str) -> None:
    X, y = named_frame(400, seed=3)
    X["région"] = np.where(X["f0"] > 0, "nord", "süd")  # one-hot columns named after non-ASCII values
    rows = X.assign(label=y)
    train = ws.datasets.create("named-train", rows.iloc[:300].reset_index(drop=True))
    valid = ws.datasets.create("named-valid", rows.iloc[300:].reset_index(drop=True))
    supervised = algorithm not in ("kmeans", "isolation-forest")
    job = ws.training.create(
        algorithm=algorithm, channels={"train": train.ref, "validation": valid.ref}, target="label" if supervised else None,
        features=[*NAMES, "région"], recipe={"steps": [{"type": "encode", "method": "onehot", "columns": ["région"]}]},
        hyperparameters=BUILT_INS[algorithm], seed=0, wait=True,
    )  # fmt: skip
    ws.registry.register("named", training_job=job.name)
    holdout = ws.datasets.read("named-valid")
    for version, quantize in ((1, False), (1, True)):
        new = ws.registry.compile("named", version, holdout=holdout, quantize=quantize)
        report = new.data["compilation"]
        assert report["max_abs_deviation"] <= report["tolerance"] and report["rows_checked"] == 100
        out = ws.registry.load("named", new.version, trusted=False).predict(holdout)
        ref = ws.registry.load("named", 1).predict(holdout)
        col = "score" if "score" in ref else "prediction"
        np.testing.assert_allclose(out[col].to_numpy(dtype=float), ref[col].to_numpy(dtype=float), atol=report["tolerance"])


# the demo's real model ---------------------------------------------------------------------
def test_the_demo_model_compiles_and_serves_onnx_only(ws: Workspace, demo_model: dict[str, Any]) -> None:
    test = demo_model["test"]
    assert "gdlin" in load_model(demo_model["package"]).manifest.feature_names  # the name the converter choked on
    ws.registry.register("loans", demo_model["package"])
    plain = ws.registry.compile("loans", 1, holdout=test)
    quantized = ws.registry.compile("loans", 1, holdout=test, quantize=True)
    for record, tolerance in ((plain, 1e-4), (quantized, 0.05)):
        report = record.data["compilation"]
        assert report["converter"].startswith("onnxmltools") and report["rows_checked"] == len(test)
        assert report["max_abs_deviation"] <= report["tolerance"] == tolerance
        assert report["label_agreement"] >= 0.99
    original = ws.registry.load("loans", 1).predict(test)
    served = ws.registry.load("loans", plain.version, trusted=False).predict(test)
    np.testing.assert_allclose(served["score"].to_numpy(), original["score"].to_numpy(), atol=1e-4)
    assert (served["predicted_label"] == original["predicted_label"]).mean() >= 0.99


def test_the_demo_model_package_compiles_directly(tmp_path: Path, demo_model: dict[str, Any]) -> None:
    report = compile_package(demo_model["package"], tmp_path / "onnx", demo_model["test"])
    assert report["max_abs_deviation"] <= 1e-4
    compiled = load_model(tmp_path / "onnx", trusted=False)
    assert compiled.manifest.recipe_file and compiled.manifest.feature_names == demo_model["features"]
