"""The workspace's own files are refused as data sources, on every face (SDK, CLI, REST)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.core.workspace_guard import check_path, check_source
from forgeml.errors import ForbiddenError
from forgeml.settings import Settings, load_settings

REFUSED = "the workspace's own files cannot be read as data"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """An operator allowed the folder holding the workspace (and duckdb URLs) for REST callers, so
    over REST it is this guard, not the access policy's default refusal, that must say no."""
    return settings.model_copy(update={"allowed_data_roots": [tmp_path], "allowed_url_schemes": ["duckdb"]})


def _sources(ws: Workspace) -> list[str]:
    """Ways to name a workspace file: plainly, by URL, through a symlink, with '..', by glob."""
    home, db = ws.home, ws.home / "forgeml.db"
    outside = home.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "link.csv").symlink_to(db)
    (outside / "dir").symlink_to(home)
    (home / "notes.csv").write_text("a\n1\n")
    return [
        str(db), f"{db}-wal", f"{db}-shm", f"file://{db}", f"sqlite:///{db}", f"duckdb:///{db}",
        str(outside / "link.csv"), str(outside / "dir" / "notes.csv"), f"{outside}/../{home.name}/notes.csv",
        str(home), f"{home}/*.csv", f"{home}/secrets/pii-hmac.key", str(home / "artifacts"),
    ]  # fmt: skip


def test_check_path_resolves_links_and_dots(ws: Workspace, tmp_path: Path) -> None:
    for source in _sources(ws):
        with pytest.raises(ForbiddenError, match=REFUSED):
            check_source(source, ws.settings)
    fine = tmp_path / "data.csv"
    fine.write_text("a\n1\n")
    for source in (str(fine), f"file://{fine}", f"{tmp_path}/*.csv", "memory://x/y.csv", "s3://bucket/key.csv",
                   "postgresql://u@127.0.0.1/db", "sqlite:///:memory:", f"sqlite:///{tmp_path}/app.db"):  # fmt: skip
        check_source(source, ws.settings)


def test_database_outside_the_home_and_hard_links(tmp_path: Path) -> None:
    db = tmp_path / "meta" / "forgeml.db"
    settings = load_settings(home=str(tmp_path / "home"), database_url=f"sqlite:///{db}")
    ws = Workspace(settings)
    try:
        hard = tmp_path / "hard.csv"
        os.link(db, hard)
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-journal"), hard):
            with pytest.raises(ForbiddenError, match="is the metadata database"):
                check_path(path, settings)
        check_path(tmp_path / "meta" / "other.csv", settings)
    finally:
        ws.close()


def test_sdk_ingest_refuses_workspace_files(ws: Workspace) -> None:
    for source in _sources(ws):
        options = {"table": "resources"} if source.startswith(("sqlite", "duckdb")) else {"format": "csv"}
        with pytest.raises(ForbiddenError, match=REFUSED):
            ws.datasets.ingest(source, "own", **options)
    assert ws.datasets.list() == []


def test_a_glob_reaching_into_the_workspace_is_refused(settings: Settings, tmp_path: Path) -> None:
    """``<parent>/**`` expands to the database among the user's files: refused, not silently skipped."""
    ws = Workspace(settings)
    try:
        (ws.home.parent / "mine.csv").write_text("a\n1\n")
        with pytest.raises(ForbiddenError, match=REFUSED):
            ws.datasets.ingest(f"{ws.home.parent}/**", "all", format="csv")
        assert ws.datasets.ingest(f"{ws.home.parent}/*.csv", "mine").data["rows"] == 1
    finally:
        ws.close()


def test_archives_and_other_data_paths(ws: Workspace, tmp_path: Path) -> None:
    import pandas as pd

    ws.datasets.create("d", pd.DataFrame({"a": [1]}))
    with pytest.raises(ForbiddenError, match=REFUSED):
        ws.datasets.import_archive(ws.home / "forgeml.db")
    with pytest.raises(ForbiddenError, match=REFUSED):
        ws.datasets.export("d", ws.home / "forgeml.db")
    assert ws.datasets.export("d", tmp_path / "d.tar")["sha256"]
    from forgeml.evaluation._inputs import resolve_frame
    from forgeml.registry._frames import read_rows
    from forgeml.training._channels import resolve_channels

    for read in (lambda p: resolve_frame(ws, p), lambda p: read_rows(ws, p), lambda p: resolve_channels(ws, {"train": p})):
        with pytest.raises(ForbiddenError, match=REFUSED):
            read(str(ws.home / "forgeml.db"))


def test_rest_ingest_answers_403(ws: Workspace) -> None:
    with TestClient(create_app(ws)) as client:
        for source in _sources(ws):
            body = {"source": source, "name": "own", **({"table": "resources"} if "://" in source and "file" not in source else {"format": "csv"})}
            response = client.post("/datasets/ingest", json=body)
            assert response.status_code == 403, (source, response.text)
            assert response.json()["error"] == "ForbiddenError" and REFUSED in response.json()["message"]


def test_cli_ingest_exits_11_with_one_line(ws: Workspace) -> None:
    db = ws.home / "forgeml.db"
    (ws.home / "rows.csv").write_text("id,ts\n1,1.0\n")
    commands = (
        ["data", "ingest", str(db), "--format", "csv", "--name", "own"],
        ["data", "ingest", f"sqlite:///{db}", "--table", "resources", "--name", "own"],
        ["features", "ingest", "g", "--file", str(ws.home / "rows.csv")],
    )
    for args in commands:
        proc = subprocess.run([sys.executable, "-m", "forgeml", "--home", str(ws.home), *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 11, proc.stderr
        assert proc.stderr.strip().startswith("error: ") and REFUSED in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
