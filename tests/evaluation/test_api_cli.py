"""REST routes and CLI commands of evaluation and clarify, over a real workspace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.settings import Settings
from tests.evaluation.helpers import loans_frame, parse_html, save_binary


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_binary(tmp_path_factory.mktemp("pkg") / "model", loans_frame(300))


@pytest.fixture
def settings(settings: Settings, model_dir: Path) -> Settings:
    """The REST API may load the test's package: its folder is an allowed code root."""
    return settings.model_copy(update={"allowed_code_roots": [model_dir.parent]})


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws)) as c:
        yield c


def test_rest_evaluation_gate_bias_explanation_and_card(ws: Workspace, client: TestClient, model_dir: Path) -> None:
    ws.datasets.create("loans", loans_frame(250, seed=1))
    r = client.post("/evaluations", json={"model_dir": str(model_dir), "dataset": "loans", "cost": {"fp": 1, "fn": 3}})
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["ref"] == "evaluation/loans:1" and ev["data"]["metrics"]["auc"] > 0.8
    got = client.get("/evaluations/loans").json()
    assert got["report"]["binary_classification_metrics"]["auc"]["value"] == ev["data"]["metrics"]["auc"]
    assert "roc" in parse_html(client.get("/evaluations/loans/report.html").text).svg_classes
    rows = loans_frame(40, seed=2).to_dict(orient="records")
    inline = client.post("/evaluations", json={"model_dir": str(model_dir), "rows": rows, "name": "inline"})
    assert inline.status_code == 201 and inline.json()["data"]["rows"] == 40
    gate = client.post("/evaluations/compare", json={"challenger": "inline", "champion": "loans", "rules": ["accuracy>=0.99"]}).json()
    assert gate["verdict"] == "fail"
    cv = client.post("/evaluations/cross-validate", json={"model_dir": str(model_dir), "dataset": "loans", "folds": 3}).json()
    assert len(cv["per_fold"]["auc"]) == 3
    b = client.post("/clarify/bias", json={"dataset": "loans", "label": "approve", "facets": ["black=1"], "model_dir": str(model_dir),
                                           "methods": ["CI", "DPL"], "post_training_methods": ["DI"]})  # fmt: skip
    assert b.status_code == 201, b.text
    facet = b.json()["analysis"]["post_training_bias_metrics"]["facets"]["black"][0]
    assert [m["name"] for m in facet["metrics"]] == ["DI"]
    assert client.get("/clarify/bias/loans").json()["analysis"] == b.json()["analysis"]
    e = client.post("/clarify/explanations", json={"model_dir": str(model_dir), "dataset": "loans", "max_rows": 10, "top_k_features": 1, "grid_resolution": 4})
    assert e.status_code == 201, e.text
    assert "tree_shap" in e.json()["explanations"]
    assert [x["ref"] for x in client.get("/clarify/explanations").json()] == [e.json()["ref"]]
    c = client.post("/model-cards", json={"model_dir": str(model_dir), "evaluation": "loans", "bias": "loans", "explanation": e.json()["name"]})
    assert c.status_code == 201, c.text
    card = client.get(f"/model-cards/{c.json()['name']}").json()
    assert card["evaluation"]["reference"] == "evaluation/loans:1"
    assert client.get(f"/model-cards/{c.json()['name']}", params={"format": "markdown"}).text.startswith("# Model card")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("post", "/evaluations", {"model_dir": "MODEL-nowhere", "dataset": "loans"}, 404, "does not exist"),
        ("post", "/evaluations", {"model_dir": "/nowhere", "dataset": "loans"}, 403, "outside the allowed folders"),
        ("post", "/evaluations", {"model_dir": "MODEL"}, 400, "exactly one of 'dataset' or 'rows'"),
        ("post", "/evaluations", {"model_dir": "MODEL", "dataset": "loans", "target": "zz"}, 400, "target column 'zz'"),
        ("post", "/evaluations", {"model_dir": "MODEL", "dataset": "loans", "threshold": 2}, 400, "threshold"),
        ("get", "/evaluations/none", None, 404, "does not exist"),
        ("post", "/evaluations/compare", {"challenger": "none", "rules": ["auc"]}, 404, "does not exist"),
        ("post", "/clarify/bias", {"dataset": "loans", "label": "approve", "facets": ["race=1"]}, 400, "facet column 'race'"),
        ("post", "/clarify/bias", {"dataset": "loans", "label": "approve", "facets": []}, 400, "facets"),
        ("post", "/clarify/explanations", {"model_dir": "MODEL", "dataset": "loans", "method": "lime"}, 400, "method"),
        ("get", "/model-cards/none", None, 404, "does not exist"),
    ],
)
def test_rest_errors_are_4xx(ws: Workspace, client: TestClient, model_dir: Path, method: str, path: str, body: dict | None, status: int, message: str) -> None:
    ws.datasets.create("loans", loans_frame(30))
    if body and body.get("model_dir") == "MODEL":
        body = {**body, "model_dir": str(model_dir)}
    if body and body.get("model_dir") == "MODEL-nowhere":  # inside the allowed code root, but no package there
        body = {**body, "model_dir": str(model_dir.parent / "nowhere")}
    r = client.request(method.upper(), path, json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["message"]


def test_cli_commands(ws: Workspace, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forgeml.cli import build_app
    from forgeml.cli._common import state

    data = tmp_path / "loans.csv"
    loans_frame(220, seed=3).to_csv(data, index=False)
    runner = CliRunner()
    app = build_app()
    monkeypatch.setattr(state, "workspace", ws)  # the test's workspace; restored afterwards

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, list(args))
        assert res.exit_code == code, (res.output, res.exception)
        return res.stdout

    out = json.loads(run("evaluate", "run", str(model_dir), "--data", str(data), "--name", "cli", "--cost-fn", "3", "--html", str(tmp_path / "r.html"), "--json"))
    assert out["ref"] == "evaluation/cli:1" and "auc" in out["metrics"]
    assert "roc" in parse_html((tmp_path / "r.html").read_text()).svg_classes
    assert json.loads(run("evaluate", "ls", "--json"))[0]["ref"] == "evaluation/cli:1"
    assert "binary_classification_metrics" in json.loads(run("evaluate", "show", "cli", "--json"))
    run("evaluate", "report", "cli", "--out", str(tmp_path / "r.json"), "--format", "json")
    assert json.loads((tmp_path / "r.json").read_text())["problem_type"] == "BinaryClassification"
    assert json.loads(run("evaluate", "compare", "cli", "cli", "--rule", "auc~0", "--json"))["verdict"] == "pass"
    run("evaluate", "compare", "cli", "--rule", "auc>=1.01", code=3)
    bias = json.loads(run("clarify", "bias", "--data", str(data), "--label", "approve", "--facet", "black=1", "--model", str(model_dir),
                          "--group-variable", "region", "--post-methods", "DPPL,DI", "--out", str(tmp_path / "analysis.json"), "--json"))  # fmt: skip
    assert bias["ref"] == "bias-report/bias:1"  # a file has no dataset name to borrow
    assert json.loads((tmp_path / "analysis.json").read_text())["pre_training_bias_metrics"]["facets"]["black"]
    shown = run("clarify", "show", "bias")
    assert "CI" in shown and "DPPL" in shown
    ex = json.loads(run("clarify", "explain", str(model_dir), "--data", str(data), "--rows", "15", "--top-k", "0", "--out", str(tmp_path / "shap.csv"), "--json"))
    assert ex["explanations"]["rows_explained"] == 15 and (tmp_path / "shap.csv").read_text().startswith("income,debt,black")
    assert json.loads(run("clarify", "ls", "--kind", "explanation", "--json"))[0]["ref"] == ex["ref"]
    md = run("evaluate", "card", str(model_dir), "--evaluation", "cli", "--bias", "bias", "--intended-use", "demo only")
    assert "demo only" in md and "## Bias" in md
    res = runner.invoke(app, ["clarify", "bias", "--data", str(data), "--label", "nope", "--facet", "black=1"])
    assert res.exit_code != 0 and "label column 'nope'" in str(res.exception)
