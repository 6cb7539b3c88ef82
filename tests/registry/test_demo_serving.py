"""The demo's serving stage on its own state inputs (registry and batch transform checked here)."""

from __future__ import annotations

from pathlib import Path

from forgeml.core.workspace import Workspace
from forgeml.demo.serving import register_model, stage
from tests.registry._models import frame, hgb_package


def test_serving_stage_registers_approves_and_batch_scores(ws: Workspace, tmp_path: Path) -> None:
    X, y = frame(n=50, seed=7)
    test = ws.datasets.create("loans-test", X.assign(label=y, application_id=range(50)))
    card = {"ref": "model-card/loans:1", "intended_use": "demo"}
    state = {"model_dir": hgb_package(tmp_path / "pkg"), "test": test, "id_column": "application_id", "summary": {},
             "model_card": card, "evaluation": {"ref": "evaluation/loans:1", "metrics": {"auc": 0.91, "note": "x"}}}  # fmt: skip
    said: list[str] = []
    try:
        stage(ws, state, said.append)
    finally:
        for cleanup in reversed(state.get("cleanups", [])):  # the endpoint part starts a server
            cleanup()
    assert state["model_version"] == {"group": "loans", "version": 1, "ref": "model/loans:1"}
    assert "model/loans:1" in ws.lineage.upstream(state["lineage_root"]).refs()
    version = ws.registry.get("loans", "champion")
    assert version.status == "Approved" and version.data["model_card"] == card
    assert version.data["metadata"]["evaluation"] == {"auc": 0.91}
    assert "evaluation/loans:1" in ws.lineage.upstream("model/loans:1").refs()
    bt = state["summary"]["batch_transform"]
    assert bt["status"] == "Completed" and bt["rows"] == 50 and bt["rows_per_second"] > 0
    lines = Path(bt["output"]).read_text().splitlines()
    assert len(lines) == 50 and lines[0].startswith('{"application_id":0,"SageMakerOutput":')
    assert any("rows/s" in s for s in said)


def test_an_approved_champion_with_debugger_issues_says_so(ws: Workspace, tmp_path: Path) -> None:
    state = {"model_dir": hgb_package(tmp_path / "pkg"), "summary": {}, "evaluation": {"metrics": {"auc": 0.81}},
             "rule_issues": {"Overfit": "mean validation:logloss exceeds mean train:logloss by 10.4% over steps 0-18"}}  # fmt: skip
    said: list[str] = []
    record = register_model(ws, state, said.append)
    reason = record.data["approval"]["reason"]
    assert record.status == "Approved" and "approved although debugger rule(s) Overfit found issues" in reason
    assert "held-out test evaluation" in said[-1] and "Overfit" in said[-1]
