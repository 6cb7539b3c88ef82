"""Compilation to ONNX: equivalence on held-out rows, quantization, refusal, registry integration."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.registry import compile_package, load_model, save_model
from tests.registry._models import frame, hgb_package, inputs


def _estimator(name: str) -> tuple[Any, str]:
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier, XGBRegressor

    return {
        "hgb": (HistGradientBoostingClassifier(max_iter=30, random_state=0), "binary"),
        "hgb-reg": (HistGradientBoostingRegressor(max_iter=30, random_state=0), "regression"),
        "forest": (RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0), "binary"),
        "pipeline": (make_pipeline(StandardScaler(), LogisticRegression()), "binary"),
        "xgb": (XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1), "binary"),
        "xgb-reg": (XGBRegressor(n_estimators=20, max_depth=3, n_jobs=1), "regression"),
        "lgbm": (LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1), "binary"),
        "lgbm-reg": (LGBMRegressor(n_estimators=20, verbose=-1, n_jobs=1), "regression"),
    }[name]


@pytest.mark.parametrize("name", ["hgb", "hgb-reg", "forest", "pipeline", "xgb", "xgb-reg", "lgbm", "lgbm-reg"])
def test_compiled_package_matches_the_original(tmp_path: Path, name: str) -> None:
    model, task = _estimator(name)
    X, y = frame(n=400)
    X.iloc[::9, 2] = np.nan if name != "pipeline" and name != "forest" else 0.0  # trees route NaN
    target = y if task == "binary" else X.f0.fillna(0) * 2 + X.f1
    model.fit(X, target)
    save_model(model, tmp_path / "src", task=task, inputs=inputs())
    holdout, _ = frame(n=200, seed=11)
    report = compile_package(tmp_path / "src", tmp_path / "onnx", holdout)
    assert report["max_abs_deviation"] <= report["tolerance"] == 1e-4
    assert report["rows_checked"] == 200
    assert report["size_bytes"]["after"] > 0 and report["after"]["single_row_ms"] > 0
    compiled = load_model(tmp_path / "onnx")
    assert compiled.manifest.flavor == "onnx" and compiled.manifest.compiled["report"] == report
    original = load_model(tmp_path / "src").predict(holdout)
    got = compiled.predict(holdout)
    assert list(got.columns) == list(original.columns)
    col = "score" if task == "binary" else "prediction"
    np.testing.assert_allclose(got[col].to_numpy(), original[col].to_numpy(), atol=1e-4 * max(1.0, float(np.abs(original[col]).max())))
    fast = compiled.predict_numpy(holdout.to_numpy())
    np.testing.assert_allclose(fast[col], got[col].to_numpy())


def test_converter_versions_are_reported_and_hist_gradient_boosting_converts(tmp_path: Path) -> None:
    # skl2onnx 1.20 + onnx 1.23 reject HistGradientBoosting without ForgeML's int cast of a flag
    report = compile_package(hgb_package(tmp_path / "src"), tmp_path / "onnx", frame(n=50, seed=2)[0])
    assert report["converter"] == f"skl2onnx {version('skl2onnx')}"
    assert report["label_agreement"] == 1.0


def test_dynamic_quantization_shrinks_a_network_and_stays_within_tolerance(tmp_path: Path) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y = frame(n=400)
    with pytest.warns(ConvergenceWarning):
        mlp = MLPClassifier((128, 128), max_iter=20, random_state=0).fit(X, y)
    save_model(mlp, tmp_path / "src", task="binary", inputs=inputs())
    holdout = frame(n=200, seed=4)[0]
    report = compile_package(tmp_path / "src", tmp_path / "q", holdout, quantize=True)
    assert report["quantized"] is True
    assert report["size_bytes"]["after"] < report["size_bytes"]["onnx"] / 2
    assert 0 < report["max_abs_deviation"] <= 0.05
    with pytest.raises(ValidationError, match=r"deviates by .* \(tolerance 1e-09\); nothing was registered"):
        compile_package(tmp_path / "src", tmp_path / "q2", holdout, quantize=True, tolerance=1e-9)
    assert not (tmp_path / "q2").exists()


def test_unconvertible_model_is_refused_clearly(tmp_path: Path) -> None:
    from sklearn.semi_supervised import LabelSpreading

    X, y = frame(n=100)
    save_model(LabelSpreading().fit(X, y), tmp_path / "src", task="binary", inputs=inputs())
    with pytest.raises(ValidationError, match="cannot compile LabelSpreading to ONNX"):
        compile_package(tmp_path / "src", tmp_path / "onnx", X)
    with pytest.raises(ValidationError, match="held-out rows"):
        compile_package(tmp_path / "src", tmp_path / "onnx", X.head(0))


def test_registry_compile_registers_a_new_version_with_report_and_lineage(ws: Workspace, tmp_path: Path) -> None:
    ws.registry.register("loans", hgb_package(tmp_path / "src"), model_card={"owner": "risk"})
    holdout = frame(n=100, seed=8)[0]
    holdout.to_parquet(tmp_path / "holdout.parquet")
    new = ws.registry.compile("loans", 1, holdout=tmp_path / "holdout.parquet")
    assert new.version == 2 and new.spec["flavor"] == "onnx" and new.spec["compiled"] is True
    assert new.data["compilation"]["max_abs_deviation"] <= 1e-4
    assert new.data["model_card"] == {"owner": "risk"}
    assert "model/loans:1" in ws.lineage.upstream(new.ref).refs()
    np.testing.assert_allclose(
        ws.registry.load("loans", 2).predict(holdout)["score"].to_numpy(),
        ws.registry.load("loans", 1).predict(holdout)["score"].to_numpy(), atol=1e-4,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="only sklearn-flavor"):
        ws.registry.compile("loans", 2, holdout=holdout)
    assert [v.version for v in ws.registry.versions("loans")] == [2, 1]


def test_package_with_recipe_compiles_and_keeps_the_recipe_in_python(tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from forgeml.data.recipes import Recipe

    X, y = frame(n=300)
    X = X.assign(kind=np.where(X.f3 > 0, "a", "b"))
    fitted = Recipe([{"type": "scale", "method": "standard"}, {"type": "encode", "method": "onehot"}]).fit(X)
    clf = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(fitted.transform(X), y)
    save_model(clf, tmp_path / "src", task="binary", inputs=[*inputs(), {"name": "kind", "type": "object"}], recipe=fitted.to_dict())
    report = compile_package(tmp_path / "src", tmp_path / "onnx", X.tail(100))
    assert report["max_abs_deviation"] <= 1e-4
    compiled = load_model(tmp_path / "onnx")
    assert compiled.manifest.recipe_file == "recipe.json" and compiled.recipe is not None
    np.testing.assert_allclose(
        compiled.predict(X.head(10))["score"].to_numpy(), load_model(tmp_path / "src").predict(X.head(10))["score"].to_numpy(), atol=1e-4
    )
