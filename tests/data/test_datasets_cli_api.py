"""The dataset faces: ``forgeml data ...`` as real subprocesses, and the ``/datasets`` routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from forgeml.api.app import create_app
from forgeml.cli import build_app
from forgeml.cli._common import state
from forgeml.core.workspace import Workspace
from forgeml.settings import Settings


def forgeml(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point in its own process."""
    env = {**os.environ, "FORGEML_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "forgeml", *args], capture_output=True, text=True, env=env, timeout=120)


def run_inline(home: Path, *args: str) -> Result:
    """The same Typer app in this process (quicker, for read commands)."""
    runner = CliRunner()
    try:
        return runner.invoke(build_app(), ["--home", str(home), *args], env={"COLUMNS": "200"})
    finally:
        if state.workspace is not None:
            state.workspace.close()
        state.workspace, state.home = None, None


def test_cli_ingest_inspect_diff_export_import(ws: Workspace, tmp_path: Path) -> None:
    v1 = tmp_path / "v1.csv"
    v1.write_text("id,amount\n1,10\n2,20\n3\n")
    out = forgeml(ws.home, "data", "ingest", str(v1), "--name", "loans")
    assert out.returncode == 0, out.stderr
    assert "ingested dataset/loans:1: 2 rows, 2 columns" in out.stdout
    assert f"warning: quarantined 1 malformed row(s) to dataset/loans-quarantine:1 (first: {v1} line 4: expected 2 fields, saw 1)" in out.stderr
    (tmp_path / "v2.csv").write_text("id,amount\n1,10\n2,25\n4,40\n")
    assert run_inline(ws.home, "data", "ingest", str(tmp_path / "v2.csv"), "-n", "loans").exit_code == 0
    listed = json.loads(run_inline(ws.home, "data", "ls", "--json").stdout)
    assert [(d["name"], d["version"]) for d in listed] == [("loans", 2)]
    assert "loans-quarantine" in run_inline(ws.home, "data", "ls", "--all").stdout
    assert "2 " in run_inline(ws.home, "data", "versions", "loans").stdout
    head = json.loads(run_inline(ws.home, "data", "head", "loans", "-n", "2", "--version", "1", "--json").stdout)
    assert head == [{"id": 1, "amount": 10}, {"id": 2, "amount": 20}]
    diff = json.loads(run_inline(ws.home, "data", "diff", "loans", "1", "2", "--key", "id", "--json").stdout)
    assert diff["rows"] == {"a": 2, "b": 3, "added": 1, "removed": 0, "changed": 1}
    assert "changed: 1  e.g. [2]" in run_inline(ws.home, "data", "diff", "loans", "1", "-k", "id").stdout
    shown = json.loads(run_inline(ws.home, "data", "show", "loans", "--json").stdout)
    assert shown["data"]["content_hash"] == ws.datasets.get("loans").data["content_hash"]
    archive = tmp_path / "loans.tar.gz"
    assert run_inline(ws.home, "data", "export", "loans", str(archive)).exit_code == 0
    out = forgeml(tmp_path / "elsewhere", "data", "import", str(archive), "--name", "copy")
    assert out.returncode == 0 and "imported 2 version(s) as copy: 1, 2" in out.stdout
    (tmp_path / "v3.csv").write_text("id,amount\n5,lots\n")
    bad = forgeml(ws.home, "data", "ingest", str(tmp_path / "v3.csv"), "-n", "loans")
    assert bad.returncode == 2 and "column 'amount' is int64; string values such as 'lots'" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The REST API may read the test's files (tmp_path is an allowed data root) and PostgreSQL URLs."""
    return settings.model_copy(update={"allowed_data_roots": [tmp_path], "allowed_url_schemes": ["postgresql"]})


def test_rest_datasets_routes(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "a.jsonl"
    src.write_text('{"id": 1, "when": "2024-01-01T10:00:00"}\n{"id": 2, "when": "2024-01-02T11:00:00"}\n')
    with TestClient(create_app(ws)) as client:
        r = client.post("/datasets/ingest", json={"source": str(src), "name": "events", "partition_by": "id"})
        assert r.status_code == 201 and r.json()["data"]["rows"] == 2
        ws.datasets.create("events", pd.DataFrame({"id": [2, 3], "when": [pd.Timestamp("2024-01-02 11:00"), pd.Timestamp("2024-01-03")]}))
        assert [d["name"] for d in client.get("/datasets").json()] == ["events"]
        assert [v["version"] for v in client.get("/datasets/events/versions").json()] == [2, 1]
        assert client.get("/datasets/events/versions/1").json()["data"]["layout"] == "hive"
        head = client.get("/datasets/events/head", params={"version": 1, "n": 1}).json()
        assert head["columns"] == ["id", "when"] and head["rows"][0]["id"] == 1 and head["version"] == 1
        diff = client.get("/datasets/events/diff", params={"a": 1, "key": "id"}).json()
        assert diff["rows"]["added"] == 1 and diff["rows"]["removed"] == 1
        for method, path, body, status, message in [
            ("get", "/datasets/ghost", None, 404, "dataset 'ghost' does not exist"),
            ("get", "/datasets/events/versions/9", None, 404, "dataset 'events' has no version 9 (latest is 2)"),
            ("post", "/datasets/ingest", {"source": str(tmp_path / "none.csv"), "name": "x"}, 404, "no file or folder"),
            ("post", "/datasets/ingest", {"source": str(src), "name": "bad name!"}, 400, "invalid dataset name"),
            ("post", "/datasets/ingest", {"source": str(src), "name": "x", "format": "xml"}, 400, "format"),
            ("post", "/datasets/ingest", {"source": "postgresql://u:pw@127.0.0.1:1/db", "name": "x", "table": "t"}, 503, "is unreachable"),
            ("get", "/datasets/events/diff?a=1&key=nope", None, 400, "key column 'nope'"),
        ]:
            resp = client.request(method.upper(), path, json=body)
            assert resp.status_code == status, (path, resp.text)
            assert message in resp.json()["message"]


def test_rest_upload_quarantines_and_labels_rows(ws: Workspace) -> None:
    body = b"id,amount\n1,10\n2\n3,30\n"
    with TestClient(create_app(ws)) as client:
        r = client.post("/datasets/up/upload", params={"filename": "loans.csv"}, content=body, headers={"content-type": "text/csv"})
        assert r.status_code == 201, r.text
        assert r.json()["data"]["rows"] == 2 and r.json()["spec"]["source"] == "upload:loans.csv"
        assert r.json()["data"]["ingest"]["first_errors"] == ["upload:loans.csv line 3: expected 2 fields, saw 1"]
        bad = client.post("/datasets/up/upload", params={"filename": "../x.csv"}, content=body)
        assert bad.status_code == 400 and "invalid filename" in bad.json()["message"]
        latin = client.post("/datasets/up/upload", params={"filename": "l.csv"}, content="id,amount\n4,caf\u00e9\n".encode("latin-1"))
        assert latin.status_code == 400 and latin.json()["message"].startswith("upload:l.csv line 2: not valid utf-8")
        empty = client.post("/datasets/up/upload", params={"filename": "e.jsonl"}, content=b"")
        assert empty.status_code == 400 and empty.json()["message"] == "upload:e.jsonl: file is empty"
    assert ws.datasets.read("up-quarantine")["source"].tolist() == ["upload:loans.csv"]
    assert [r.version for r in ws.datasets.versions("up")] == [1]
