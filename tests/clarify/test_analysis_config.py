"""Running a SageMaker Clarify analysis_config.json locally (SDK, CLI and REST)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.clarify import bias_report
from forgeml.clarify._config import parse_config
from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from tests.evaluation.helpers import loans_frame, save_binary

CONFIG = {
    "dataset_type": "text/csv",
    "label": "approve",
    "label_values_or_threshold": [1],
    "facet": [{"name_or_index": "black", "value_or_threshold": [1]}, {"name_or_index": "income", "value_or_threshold": [55]}],
    "group_variable": "region",
    "methods": {
        "pre_training_bias": {"methods": "all"},
        "post_training_bias": {"methods": ["DPPL", "DI"]},
        "shap": {"num_clusters": 3, "agg_method": "mean_abs", "save_local_shap_values": True, "max_rows": 20},
        "pdp": {"top_k_features": 1, "grid_resolution": 4},
        "report": {"name": "report"},
    },
    "predictor": {"model_name": "ignored", "instance_type": "ml.m5.xlarge", "initial_instance_count": 1},
}


def test_analysis_config_runs_bias_and_explanations(ws: Workspace, tmp_path: Path) -> None:
    model = save_binary(tmp_path / "m", loans_frame(300))
    frame = loans_frame(200, seed=1)
    result = ws.clarify.analyze(frame, CONFIG, model=model, name="cfg")
    assert result["records"] == ["bias-report/cfg:1", "explanation/cfg:1"]
    facets = result["pre_training_bias_metrics"]["facets"]
    # income is a float column, so Clarify's rule makes [55] a threshold: income > 55
    assert set(facets) == {"black", "income"}
    assert facets["income"][0]["value_or_threshold"].startswith("(55")
    by_threshold = bias_report(frame, label="approve", label_values_or_threshold=[1], facets=["income>55"], group_variable="region")
    assert facets["income"] == by_threshold["pre_training_bias_metrics"]["facets"]["income"]
    direct = bias_report(frame, label="approve", label_values_or_threshold=[1], facets=["black=1"], group_variable="region")
    assert facets["black"] == direct["pre_training_bias_metrics"]["facets"]["black"]
    post = result["post_training_bias_metrics"]["facets"]["black"][0]["metrics"]
    assert [m["name"] for m in post] == ["DI", "DPPL"]
    assert result["explanations"]["rows_explained"] == 20 and len(result["explanations"]["pdp"]) == 1


def test_clarify_rule_for_thresholds_versus_values() -> None:
    import pandas as pd

    from forgeml.clarify._config import as_forgeml_spec

    assert as_forgeml_spec(pd.Series([1.5, 2.0, 3.1]), [2]) == "> 2.0"  # floats: continuous
    assert as_forgeml_spec(pd.Series([0, 1, 0, 1] * 20), [1]) == [1]  # 2 distinct of 80 = 2.5 %: categorical
    assert as_forgeml_spec(pd.Series([0, 1, 0, 1] * 10), [1]) == "> 1.0"  # 2 of 40 = 5 %: continuous (smclarify)
    assert as_forgeml_spec(pd.Series(range(40)), [30]) == "> 30.0"  # 100 % distinct integers
    assert as_forgeml_spec(pd.Series(range(40)), [30, 31]) == [30, 31]  # several values: categorical
    assert as_forgeml_spec(pd.Series(["a", "b"] * 20), ["a"]) == ["a"]
    with pytest.raises(ValidationError, match="must be one number"):
        as_forgeml_spec(pd.Series([1.5, 2.0]), ["high"])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"methods": {}}, "at least one"),
        ({"label": "y", "facet": [], "methods": {"pre_training_bias": {}}}, "non-empty 'facet'"),
        ({"facet": [{"name_or_index": "f"}], "methods": {"pre_training_bias": {}}}, "need 'label'"),
        ({"methods": {"lime": {}}}, "unknown method(s) lime"),
        ({"methods": {"shap": {"nsamples": 3}}}, "unknown shap option 'nsamples'"),
        ({"labels": "y", "methods": {"shap": {}}}, "unknown key(s) labels"),
    ],
)
def test_bad_configs(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(config)


def test_post_training_and_shap_need_a_model(ws: Workspace) -> None:
    frame = loans_frame(50)
    with pytest.raises(ValidationError, match="post_training_bias needs a model"):
        ws.clarify.analyze(frame, {**CONFIG, "methods": {"post_training_bias": {}}})
    with pytest.raises(ValidationError, match="shap and pdp need a model"):
        ws.clarify.analyze(frame, {**CONFIG, "methods": {"shap": {}}})


def test_analysis_config_over_rest(ws: Workspace, tmp_path: Path) -> None:
    ws.datasets.create("loans", loans_frame(120, seed=2))
    config = {**CONFIG, "methods": {"pre_training_bias": {"methods": ["CI"]}}}
    with TestClient(create_app(ws)) as client:
        r = client.post("/clarify/analyze", json={"dataset": "loans", "config": config})
        assert r.status_code == 200, r.text
        assert r.json()["pre_training_bias_metrics"]["facets"]["black"][0]["metrics"][0]["name"] == "CI"
        bad = client.post("/clarify/analyze", json={"dataset": "loans", "config": {"methods": {}}})
        assert bad.status_code == 400 and "at least one" in bad.json()["message"]


def test_analysis_config_from_the_cli(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from forgeml.cli import build_app
    from forgeml.cli._common import state

    monkeypatch.setattr(state, "workspace", ws)
    ws.datasets.create("loans", loans_frame(120, seed=2))
    (tmp_path / "cfg.json").write_text(json.dumps({**CONFIG, "methods": {"pre_training_bias": {"methods": ["CI", "DPL"]}}}))
    res = CliRunner().invoke(build_app(), ["clarify", "analyze", "-c", str(tmp_path / "cfg.json"), "-d", "loans", "-o", str(tmp_path / "a.json"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["records"] == ["bias-report/loans:1"]
    written = json.loads((tmp_path / "a.json").read_text())
    assert [m["name"] for m in written["pre_training_bias_metrics"]["facets"]["black"][0]["metrics"]] == ["CI", "DPL"]
    (tmp_path / "broken.json").write_text("{nope")
    res = CliRunner().invoke(build_app(), ["clarify", "analyze", "-c", str(tmp_path / "broken.json"), "-d", "loans"])
    assert res.exit_code != 0 and "cannot read" in str(res.exception)
