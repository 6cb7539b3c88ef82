"""ws.evaluation end to end: stored evaluations, lineage, reports, gates and model cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ModelError, NotFoundError, ValidationError
from tests.evaluation.helpers import (
    loans_frame,
    parse_html,
    save_binary,
    save_multiclass,
    save_regression,
)


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_binary(tmp_path_factory.mktemp("pkg") / "model", loans_frame(400, seed=0))


def test_evaluate_stores_report_html_lineage_and_metrics(ws: Workspace, binary: Path) -> None:
    ds = ws.datasets.create("loans-test", loans_frame(300, seed=1))
    ev = ws.evaluation.evaluate(binary, "loans-test", cost={"fp": 1, "fn": 4})
    assert ev.kind == "evaluation" and ev.name == "loans-test" and ev.version == 1
    report = ws.evaluation.report(ev.ref)
    section = report["binary_classification_metrics"]
    assert report["problem_type"] == "BinaryClassification" and report["dataset"]["item_count"] == 300
    assert 0.8 < section["auc"]["value"] <= 1.0
    assert isinstance(section["auc"]["standard_deviation"], float)  # 300 rows >= 200
    assert report["threshold_selection"]["costs"]["fn"] == 4.0
    assert ev.data["metrics"]["auc"] == section["auc"]["value"]
    # lineage: the dataset and the model package's artifact flow into the evaluation
    sources = {e.src: e.relation for e in ws.metadata.list_edges(dst=ev.ref)}
    assert sources[ds.ref] == "evaluated-on"
    assert sources[ev.spec["model"]] == "evaluated"
    assert ws.metadata.latest_metrics([ev.ref])[ev.ref]["auc"] == pytest.approx(section["auc"]["value"])
    page = parse_html(ws.evaluation.html(ev))
    assert {"roc", "pr", "calibration", "confusion"} <= set(page.svg_classes)
    assert page.tags["table"] >= 1 and not page.external
    again = ws.evaluation.evaluate(binary, ds)
    assert again.version == 2 and [r.version for r in ws.evaluation.list("loans-test")] == [2, 1]


def test_evaluate_multiclass_and_regression_packages(ws: Workspace, tmp_path: Path) -> None:
    frame = loans_frame(300, seed=2)
    import numpy as np
    import pandas as pd

    frame["band"] = pd.cut(frame.income - frame.debt, [-np.inf, 25, 35, np.inf], labels=["low", "mid", "high"]).astype(str)
    frame["margin"] = frame.income - frame.debt
    mc = ws.evaluation.evaluate(save_multiclass(tmp_path / "mc", frame), frame, name="bands")
    rep = ws.evaluation.report(mc)
    assert rep["problem_type"] == "MulticlassClassification"
    assert set(rep["multiclass_classification_metrics"]["confusion_matrix"]) == {"high", "low", "mid"}
    rg = ws.evaluation.evaluate(save_regression(tmp_path / "rg", frame), frame, name="margin")
    rm = ws.evaluation.report(rg)["regression_metrics"]
    assert rm["r2"]["value"] > 0.9 and rm["rmse"]["value"] == pytest.approx(rm["mse"]["value"] ** 0.5)


def test_bad_input_is_refused_and_nothing_is_stored(ws: Workspace, binary: Path, tmp_path: Path) -> None:
    frame = loans_frame(50)
    with pytest.raises(ValidationError, match="target column 'nope' is not in the data"):
        ws.evaluation.evaluate(binary, frame, target="nope")
    with pytest.raises(ValidationError, match="missing column"):
        ws.evaluation.evaluate(binary, frame.drop(columns=["debt"]))
    bad = frame.astype({"approve": "float64"})
    bad.loc[3, "approve"] = None
    with pytest.raises(ValidationError, match="1 missing value"):
        ws.evaluation.evaluate(binary, bad)
    with pytest.raises(NotFoundError, match="does not exist"):
        ws.evaluation.evaluate(tmp_path / "nowhere", frame)
    with pytest.raises(NotFoundError):
        ws.evaluation.evaluate(binary, "no-such-dataset")
    with pytest.raises(ValidationError, match="positive label 7"):
        ws.evaluation.evaluate(binary, frame, positive_label=7)
    text = frame.astype({"income": "object"})
    text.loc[0, "income"] = "lots"
    with pytest.raises(ValidationError, match="not a number"):
        ws.evaluation.evaluate(binary, text)
    assert ws.evaluation.list() == []


def test_model_error_is_reported(ws: Workspace, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from forgeml.registry.package import save_model

    frame = loans_frame(60)
    est = LogisticRegression().fit(frame[["income", "debt"]], frame.approve)  # 2 features, signature says 3
    save_model(est, tmp_path / "m", task="binary", inputs=[{"name": c, "type": "float64"} for c in ["income", "debt", "black"]], target="approve", classes=[0, 1])
    with pytest.raises(ModelError, match="model raised"):
        ws.evaluation.evaluate(tmp_path / "m", frame)


def test_compare_stored_evaluations(ws: Workspace, binary: Path, tmp_path: Path) -> None:
    frame = loans_frame(300, seed=4)
    strong = ws.evaluation.evaluate(binary, frame, name="champ")
    weak_frame = loans_frame(30, seed=9)
    weak = ws.evaluation.evaluate(save_binary(tmp_path / "weak", weak_frame, kind="logistic"), frame.assign(debt=0.0), name="chall")
    res = ws.evaluation.compare("chall", "champ", ["auc~0.01"])
    assert res["verdict"] == "fail" and res["challenger_ref"] == weak.ref and res["champion_ref"] == strong.ref
    assert ws.evaluation.compare("champ", "chall:1", ["auc~0"])["passed"]
    with pytest.raises(NotFoundError):
        ws.evaluation.compare("nope", "champ", ["auc"])


def test_cross_validate_a_package(ws: Workspace, binary: Path) -> None:
    res = ws.evaluation.cross_validate(binary, loans_frame(200, seed=6), folds=3)
    assert res["folds"] == 3 and 0.7 < res["mean"]["auc"] <= 1


def test_model_card_gathers_what_the_platform_knows(ws: Workspace, binary: Path) -> None:
    ws.datasets.create("loans-eval", loans_frame(250, seed=5))
    ev = ws.evaluation.evaluate(binary, "loans-eval")
    bias = ws.clarify.bias("loans-eval", label="approve", facets=["black=1"], model=binary)
    ex = ws.clarify.explain(binary, "loans-eval", max_rows=40, top_k_features=1)
    card = ws.evaluation.model_card(binary, evaluation=ev.ref, bias=bias.ref, explanation=ex.ref, intended_use="credit triage demo")
    doc = json.loads(ws.evaluation.card_document(card, "json"))
    assert doc["intended_use"] == "credit triage demo"
    assert doc["model"]["algorithm"] == "XGBClassifier" and doc["model"]["target"] == "approve"
    assert doc["evaluation"]["metrics"]["auc"] == pytest.approx(ev.data["metrics"]["auc"])
    assert "black=1" in doc["bias"]["post_training_bias_metrics"]
    assert doc["explanations"]["top_features"][0]["feature"] in {"income", "debt", "black"}
    assert "dataset/loans-eval:1" in json.dumps(doc["lineage"])
    md = ws.evaluation.card_document(card, "markdown")
    assert md.startswith("# Model card") and "## Bias" in md and "## Lineage" in md
    page = parse_html(ws.evaluation.card_document(card, "html"))
    assert page.tags["h2"] >= 5
    with pytest.raises(ValidationError, match="unknown model card format"):
        ws.evaluation.card_document(card, "pdf")
