"""The three faces of data preparation: CLI commands and REST routes over a real workspace."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from forgeml.api.app import create_app
from forgeml.cli import build_app
from forgeml.cli._common import state
from forgeml.core.workspace import Workspace


@pytest.fixture
def loans(ws: Workspace) -> Workspace:
    rng = np.random.default_rng(5)
    n = 300
    frame = pd.DataFrame({
        "id": np.arange(n), "amount": rng.normal(100, 20, n).round(1), "region": rng.choice(["n", "s", "e"], n),
        "contact": [f"user{i}@example.com" for i in range(n)], "approve": (rng.random(n) < 0.8).astype(int),
    })  # fmt: skip
    frame.loc[3, "amount"] = None
    ws.datasets.create("loans", frame)
    return ws


def _cli(ws: Workspace, *args: str) -> tuple[int, str]:
    previous = state.home
    state.home, state.workspace = str(ws.home), ws
    try:
        result = CliRunner().invoke(build_app(), list(args))
    finally:
        state.home, state.workspace = previous, None
    return result.exit_code, result.output


def test_cli_commands(loans: Workspace, tmp_path: Path) -> None:
    code, out = _cli(loans, "data", "profile", "loans", "--label", "approve", "--html", str(tmp_path / "p.html"), "--json")
    assert code == 0 and json.loads(out)["rows"] == 300
    assert "<svg" in (tmp_path / "p.html").read_text()
    rules = tmp_path / "rules.dqdl"
    rules.write_text('Rules = [ IsComplete "amount", IsUnique "id" ]')
    code, out = _cli(loans, "data", "validate", "loans", "--rules", str(rules), "--json")
    assert code == 1 and json.loads(out)["rules_failed"] == 1  # amount has a gap: exit 1
    code, out = _cli(loans, "data", "validate", "loans", "--rules", 'Rules = [ IsComplete "nope" ]')
    assert code != 0
    code, out = _cli(loans, "data", "pii", "loans", "--json")
    assert code == 0 and json.loads(out)["pii_columns"] == ["contact"]
    code, out = _cli(loans, "data", "split", "loans", "--method", "stratified", "--target", "approve", "--json")
    assert code == 0 and json.loads(out)["test"]["name"] == "loans-test"
    code, out = _cli(loans, "data", "drift", "loans", "--base", "1", "--other", "loans-test", "--json")
    assert code == 0 and json.loads(out)["added"] == []
    spec = tmp_path / "recipe.yaml"
    spec.write_text("steps:\n  - {type: impute, strategy: median}\n  - {type: encode}\n")
    code, out = _cli(loans, "data", "recipe", "loans", "--spec", str(spec), "--target", "approve", "--columns", "amount,region", "--out", str(tmp_path / "fit.json"))
    assert code == 0
    assert json.loads((tmp_path / "fit.json").read_text())["output_columns"] == ["amount", "region_e", "region_n", "region_s"]


def test_cli_errors_are_one_line(loans: Workspace) -> None:
    """Through the real entry point: a bad rule is one line on stderr and a non-zero exit."""
    proc = subprocess.run(
        [sys.executable, "-m", "forgeml", "--home", str(loans.home), "data", "validate", "loans", "-r", 'Rules = [ IsFancy "id" ]'],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: DQDL: unknown rule type 'IsFancy'")
    assert "Traceback" not in proc.stderr


@pytest.fixture
def client(loans: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(loans)) as c:
        yield c


def test_rest_routes(client: TestClient) -> None:
    prof = client.post("/datasets/loans/profile", json={"label": "approve"})
    assert prof.status_code == 200 and prof.json()["report"]["label"]["classes"] == 2
    page = client.post("/datasets/loans/profile", json={"html": True})
    assert page.headers["content-type"].startswith("text/html") and "<svg" in page.text
    val = client.post("/datasets/loans/validate", json={"rules": ['IsComplete "amount"', "RowCount > 100"]})
    assert val.status_code == 200 and val.json()["report"]["quarantine"]["rows"] == 1
    assert "IsUnique \"id\"" in client.get("/datasets/loans/suggested-rules").text
    pii = client.post("/datasets/loans/pii", json={"protect": True, "output": "loans-safe"})
    assert pii.status_code == 200 and pii.json()["output"] == "dataset/loans-safe:1"
    split = client.post("/datasets/loans/split", json={"method": "random", "fractions": [0.8, 0.2]})
    assert split.status_code == 201 and set(split.json()) == {"train", "test"}
    fit = client.post("/datasets/loans/recipe", json={"spec": {"steps": [{"type": "scale"}]}, "columns": ["amount"]})
    assert fit.status_code == 201 and fit.json()["fitted"]["output_columns"] == ["amount"]
    drift = client.post("/datasets/loans/drift", json={"base_version": 1, "other": "loans-safe"})
    assert drift.status_code == 200
    assert len(client.get("/datasets/loans/reports/validation").json()) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "text"),
    [
        ("/datasets/loans/validate", {"rules": "Rules = [ Nope ]"}, 400, "unknown rule type"),
        ("/datasets/loans/validate", {"rules": 'Rules = [ IsComplete "zzz" ]'}, 400, "'zzz' not in the data"),
        ("/datasets/missing/profile", {}, 404, "missing"),
        ("/datasets/loans/profile", {"label": "zzz"}, 400, "zzz"),
        ("/datasets/loans/split", {"method": "stratified"}, 400, "needs a column"),
        ("/datasets/loans/split", {"method": "sideways"}, 400, "method"),
        ("/datasets/loans/recipe", {"spec": {"steps": [{"type": "bogus"}]}}, 400, "unknown step type"),
        ("/datasets/loans/pii", {"steps": [{"column": "contact", "action": "explode"}]}, 400, "unknown action"),
        ("/datasets/loans/profile", {"colour": "red"}, 400, "colour"),
    ],
)
def test_rest_errors_are_4xx(client: TestClient, path: str, body: dict, status: int, text: str) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert text in response.json()["message"]
