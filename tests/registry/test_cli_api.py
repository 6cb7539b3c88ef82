"""The registry and batch transform through the CLI (``forgeml.cli.main``) and the REST API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.cli import main
from forgeml.cli._common import state
from forgeml.core.workspace import Workspace
from forgeml.settings import Settings
from tests.registry._models import frame, hgb_package


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in process (the same ``main`` the console script runs)."""
    state.workspace = None
    state.home = None
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        state.workspace = None
    out = capsys.readouterr()
    return code, out.out, out.err


def test_models_cli_register_approve_alias_compile_export(ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pkg = hgb_package(tmp_path / "pkg")
    code, out, _ = cli(capsys, "models", "register", "loans", str(pkg), "--metadata", '{"team": "risk"}')
    assert code == 0 and "registered model/loans:1" in out
    assert cli(capsys, "models", "approve", "loans", "1", "--by", "ana", "--reason", "ok")[0] == 0
    assert cli(capsys, "models", "alias", "loans", "champion", "1")[0] == 0
    code, out, _ = cli(capsys, "models", "show", "loans", "champion", "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["aliases"], shown["data"]["approval"]["by"]) == ("Approved", ["champion"], "ana")
    code, _, err = cli(capsys, "models", "approve", "loans", "1")
    assert code == 6 and err.strip() == "error: model/loans:1 cannot go from Approved to Approved (allowed: Rejected)"
    code, _, err = cli(capsys, "models", "show", "nope", "--json")
    assert code == 4 and "model 'nope' does not exist" in err
    frame(n=60, seed=3)[0].to_csv(tmp_path / "holdout.csv", index=False)
    code, out, _ = cli(capsys, "models", "compile", "loans", "1", "--holdout", str(tmp_path / "holdout.csv"), "--json")
    report = json.loads(out)
    assert code == 0 and report["ref"] == "model/loans:2" and report["max_abs_deviation"] <= 1e-4
    code, out, _ = cli(capsys, "models", "versions", "loans", "--json")
    assert [v["version"] for v in json.loads(out)] == [2, 1]
    assert json.loads(cli(capsys, "models", "ls", "--json")[1])[0]["approved"] == 1
    assert cli(capsys, "models", "export-mlflow", "loans", "1", str(tmp_path / "mlf"))[0] == 0
    assert (tmp_path / "mlf" / "MLmodel").is_file()
    code, out, _ = cli(capsys, "models", "download", "loans", "2", "--dest", str(tmp_path / "dl"))
    assert code == 0 and (Path(out.strip()) / "model.onnx").is_file()
    events = json.loads(cli(capsys, "models", "events", "loans", "1", "--json")[1])
    assert "ModelPackageStateChange" in {e["type"] for e in events}
    code, _, err = cli(capsys, "models", "register", "loans", str(tmp_path / "nothing"))
    assert code == 4 and err.startswith("error: model package folder")


def test_transform_cli_create_wait_show(ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws.registry.register("loans", hgb_package(tmp_path / "pkg"))
    X, _ = frame(n=30, seed=2)
    X.to_csv(tmp_path / "rows.csv", index=False, header=False)
    code, out, _ = cli(capsys, "transform", "create", "loans:1", str(tmp_path / "rows.csv"), "--split-type", "Line",
                       "--assemble-with", "Line", "--name", "t-cli", "--output-path", str(tmp_path / "out"), "--wait")  # fmt: skip
    assert code == 0 and "t-cli: Completed" in out
    assert len((tmp_path / "out" / "rows.csv.out").read_text().splitlines()) == 30
    shown = json.loads(cli(capsys, "transform", "show", "t-cli", "--json")[1])
    assert shown["files"][0]["records"] == 30 and shown["metrics"]["records"] == 30
    assert [j["name"] for j in json.loads(cli(capsys, "transform", "ls", "--json")[1])] == ["t-cli"]
    code, _, err = cli(capsys, "transform", "create", "loans:1", str(tmp_path / "rows.csv"), "--split-type", "Word")
    assert code == 2 and "--split-type" in err  # the CLI option, not the Python argument


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The REST API may read the test's files and packages: tmp_path is an allowed data and code root."""
    return settings.model_copy(update={"allowed_data_roots": [tmp_path], "allowed_code_roots": [tmp_path]})


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws)) as c:
        yield c


def test_rest_registry_and_transform_errors(ws: Workspace, client: TestClient, tmp_path: Path) -> None:
    pkg = hgb_package(tmp_path / "pkg")
    art = ws.artifacts.put_dir(pkg)
    created = client.post("/model-package-groups/loans/versions", json={"artifact": art.digest, "metadata": {"a": 1}})
    assert created.status_code == 201 and created.json()["ref"] == "model/loans:1"
    assert client.put("/model-package-groups/loans/aliases/champion", json={"version": 1}).json() == {"champion": 1}
    got = client.get("/model-package-groups/loans/versions/champion").json()
    assert got["version"] == 1 and got["data"]["metadata"] == {"a": 1}
    ok = client.post("/model-package-groups/loans/versions/1/approval", json={"status": "Rejected", "reason": "bias"})
    assert ok.status_code == 200 and ok.json()["status"] == "Rejected"
    bad = client.post("/model-package-groups/loans/versions/1/approval", json={"status": "Approved"})
    assert bad.status_code == 409 and bad.json()["error"] == "InvalidTransitionError"
    assert client.get("/model-package-groups/nope/versions/1").status_code == 404
    assert client.get("/model-package-groups/loans/versions/champion").status_code == 404  # dropped on rejection
    assert client.post("/model-package-groups/loans/versions", json={}).status_code == 400
    card = client.put("/model-package-groups/loans/versions/1/model-card", json={"owner": "risk"})
    assert card.json()["data"]["model_card"] == {"owner": "risk"}
    assert [g["name"] for g in client.get("/model-package-groups").json()] == ["loans"]
    X, _ = frame(n=5, seed=1)
    X.to_csv(tmp_path / "rows.csv", index=False, header=False)
    r = client.post("/transform-jobs", json={"model": "loans:1", "inputs": [str(tmp_path / "rows.csv")], "input_filter": "$["})
    assert r.status_code == 400 and "JSONPath" in r.json()["message"]
    r = client.post("/transform-jobs", json={"model": "loans:7", "inputs": [str(tmp_path / "rows.csv")]})
    assert r.status_code == 404
    r = client.post("/transform-jobs", json={"model": "loans:1", "inputs": [str(tmp_path / "rows.csv")], "split_type": "Bogus"})
    assert r.status_code == 400
    assert client.get("/transform-jobs").json() == []
    assert client.get("/transform-jobs/nothing").status_code == 404


def test_rest_compile_metadata_events_and_alias_removal(ws: Workspace, client: TestClient, tmp_path: Path) -> None:
    pkg = hgb_package(tmp_path / "pkg")
    assert client.post("/model-package-groups", json={"name": "loans"}).status_code == 201
    assert client.post("/model-package-groups", json={"name": "loans"}).status_code == 409
    assert client.post("/model-package-groups/loans/versions", json={"path": str(pkg)}).status_code == 201
    frame(n=40, seed=2)[0].to_parquet(tmp_path / "h.parquet")
    compiled = client.post("/model-package-groups/loans/versions/1/compile", json={"holdout": str(tmp_path / "h.parquet")})
    assert compiled.status_code == 201 and compiled.json()["spec"]["flavor"] == "onnx"
    refused = client.post("/model-package-groups/loans/versions/1/compile", json={"holdout": str(tmp_path / "h.parquet"), "tolerance": 1e-12})
    assert refused.status_code == 400 and "deviates by" in refused.json()["message"]  # float32 ONNX vs float64
    assert [v["version"] for v in client.get("/model-package-groups/loans/versions").json()] == [2, 1]
    meta = client.patch("/model-package-groups/loans/versions/2/metadata", json={"owner": "risk"})
    assert meta.json()["data"]["metadata"] == {"owner": "risk"}
    kinds = [e["type"] for e in client.get("/model-package-groups/loans/versions/2/events").json()]
    assert kinds[0] == "Created" and "ModelPackageStateChange" in kinds
    assert client.put("/model-package-groups/loans/aliases/prod", json={"version": 2}).json() == {"prod": 2}
    assert client.delete("/model-package-groups/loans/aliases/prod").json() == {}
    assert client.delete("/model-package-groups/loans/aliases/prod").status_code == 404
    assert client.get("/model-package-groups/loans/versions?status=Maybe").status_code == 400
