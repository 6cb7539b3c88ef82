"""SHAP explanations and partial dependence of model packages, checked against SHAP's additivity
and against scikit-learn's partial dependence computed independently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forgeml.clarify import aggregate, explain
from forgeml.errors import ModelError, ValidationError
from forgeml.registry.package import load_model
from tests.evaluation.helpers import FEATURES, loans_frame, save_binary, save_regression


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_aggregations_by_hand() -> None:
    values = np.array([[1.0, -2.0], [-3.0, 0.0], [2.0, 4.0]])
    assert aggregate(values, "mean_abs").tolist() == [2.0, 2.0]  # (1+3+2)/3, (2+0+4)/3
    assert aggregate(values, "median").tolist() == [1.0, 0.0]
    assert aggregate(values, "mean_sq").tolist() == pytest.approx([14 / 3, 20 / 3])
    with pytest.raises(ValidationError, match="unknown agg_method"):
        aggregate(values, "max")


def test_tree_shap_is_additive_in_log_odds(tmp_path: Path) -> None:
    frame = loans_frame(300)
    model = load_model(save_binary(tmp_path / "m", frame))
    res = explain(model, frame, max_rows=60, use_logit=True, top_k_features=2, grid_resolution=5)
    a = res.analysis
    assert a["method"] == "tree" and list(a["tree_shap"]) == ["1"]  # the positive class
    rows = frame.sample(n=60, random_state=0)
    margin = _logit(model.model.predict_proba(rows[FEATURES])[:, 1])
    recon = res.local.to_numpy().sum(axis=1) + a["tree_shap"]["1"]["expected_value"]
    assert recon == pytest.approx(margin, abs=1e-4)
    glob = a["tree_shap"]["1"]["global_shap_values"]
    assert glob["income"] == pytest.approx(np.abs(res.local["income"]).mean())
    assert a["feature_space"] == "model inputs after the packaged recipe"
    assert len(a["pdp"]) == 2 and a["pdp"][0]["feature_name"] == max(glob, key=glob.get)


def test_tree_shap_in_probability_space(tmp_path: Path) -> None:
    frame = loans_frame(300)
    model = load_model(save_binary(tmp_path / "m", frame))
    res = explain(model, frame, max_rows=30, top_k_features=0)
    rows = frame.sample(n=30, random_state=0)
    proba = model.model.predict_proba(rows[FEATURES])[:, 1]
    recon = res.local.to_numpy().sum(axis=1) + res.analysis["tree_shap"]["1"]["expected_value"]
    assert recon == pytest.approx(proba, abs=1e-4)
    assert res.analysis["output"] == "probability" and "pdp" not in res.analysis


def test_kernel_shap_with_kmeans_baseline_for_other_models(tmp_path: Path) -> None:
    frame = loans_frame(200)
    model = load_model(save_binary(tmp_path / "m", frame, kind="logistic"))
    res = explain(model, frame, max_rows=8, num_clusters=5, top_k_features=1, grid_resolution=4, seed=1)
    a = res.analysis
    assert a["method"] == "kernel" and list(a["kernel_shap"]) == ["1"]
    # kernel SHAP is additive with respect to its baseline's expected prediction
    rows = frame.sample(n=8, random_state=1)
    proba = model.model.predict_proba(rows[FEATURES])[:, 1]
    recon = res.local.to_numpy().sum(axis=1) + a["kernel_shap"]["1"]["expected_value"]
    assert recon == pytest.approx(proba, abs=1e-6)


def test_regression_models_with_tree_and_kernel_shap(tmp_path: Path) -> None:
    frame = loans_frame(200)
    model = load_model(save_regression(tmp_path / "r", frame))
    rows = frame.sample(n=6, random_state=0)
    pred = model.model.predict(rows[FEATURES].astype(float))
    for method in ("tree", "kernel"):
        res = explain(model, frame, method=method, max_rows=6, num_clusters=5, agg_method="mean_sq", top_k_features=0)
        key = f"{method}_shap"
        assert res.analysis["output"] == "prediction" and list(res.analysis[key]) == ["label0"]
        values = res.analysis[key]["label0"]["global_shap_values"]
        assert values["income"] == pytest.approx((res.local["income"] ** 2).mean())
        recon = res.local.to_numpy().sum(axis=1) + res.analysis[key]["label0"]["expected_value"]
        assert recon == pytest.approx(pred, abs=1e-4)


def test_partial_dependence_matches_scikit_learn(tmp_path: Path) -> None:
    from sklearn.inspection import partial_dependence

    frame = loans_frame(200)
    model = load_model(save_binary(tmp_path / "m", frame))
    res = explain(model, frame, max_rows=50, pdp_features=["debt"], grid_resolution=6, use_logit=True)
    pdp = res.analysis["pdp"][0]
    X = frame.sample(n=50, random_state=0)[FEATURES].reset_index(drop=True).astype(float)
    ref = partial_dependence(model.model, X, ["debt"], grid_resolution=6, kind="average", method="brute", response_method="predict_proba")
    assert pdp["feature_values"] == pytest.approx(list(ref["grid_values"][0]))
    assert pdp["model_predictions"][0] == pytest.approx(list(ref["average"][0]))


def test_bad_explanation_requests(tmp_path: Path) -> None:
    frame = loans_frame(100)
    model = load_model(save_binary(tmp_path / "m", frame, kind="logistic"))
    with pytest.raises(ValidationError, match="unknown explanation method"):
        explain(model, frame, method="lime")
    with pytest.raises(ValidationError, match="TreeExplainer does not support LogisticRegression"):
        explain(model, frame, method="tree")
    bad = frame.copy()
    bad.loc[2, "debt"] = np.nan
    with pytest.raises(ModelError, match="NaN"):  # logistic regression cannot take missing values
        explain(model, bad.iloc[:4], max_rows=None, num_clusters=2, top_k_features=0)
    with pytest.raises(ValidationError, match="not among the model inputs"):
        explain(model, frame, max_rows=5, pdp_features=["region"], num_clusters=3)
