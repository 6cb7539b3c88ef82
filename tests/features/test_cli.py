"""``forgeml features``: the commands in-process (Typer runner) and one real subprocess for exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forgeml.cli import build_app
from forgeml.cli._common import state
from forgeml.core.workspace import Workspace

T0 = 1_767_225_600.0


@pytest.fixture
def cli(ws: Workspace) -> Iterator:  # type: ignore[type-arg]
    runner = CliRunner()
    app = build_app()
    state.home, state.workspace = str(ws.home), None

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--home", str(ws.home), "features", *args], env={"COLUMNS": "200"})
        assert result.exit_code == code, (result.output, result.exception)
        return result.output

    yield run
    if state.workspace is not None:
        state.workspace.close()
    state.home, state.workspace = None, None


def test_cli_lifecycle(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    out = cli("create", "cust", "--record-id", "id", "--event-time", "ts", "-f", "id:Integral", "-f", "ts:Fractional",
              "-f", "amount:Fractional", "--ttl", "7d", "--tag", "team=risk")  # fmt: skip
    assert "created feature-group/cust:1" in out
    assert json.loads(cli("ls", "--json"))[0]["online_ttl_seconds"] == 7 * 86400
    assert json.loads(cli("show", "cust", "--json"))["tags"] == {"team": "risk"}
    path = tmp_path / "rows.csv"
    pd.DataFrame({"id": [1, 2, 3], "ts": [now - 30, now - 20, now - 10], "amount": [1.0, 2.0, 3.0]}).to_csv(path, index=False)
    assert json.loads(cli("ingest", "cust", "--file", str(path), "--batch-size", "2", "--json"))["rows"] == 3
    assert json.loads(cli("put", "cust", "--record", json.dumps({"id": 4, "ts": now, "amount": 4.5}), "--json")) == {"online_updated": True}
    assert json.loads(cli("get", "cust", "4", "--json"))["amount"] == 4.5
    assert cli("get", "cust", "4").startswith("4: id=4, ") and "amount=4.5" in cli("get", "cust", "4")  # text, not JSON
    both = json.loads(cli("get", "cust", "1", "9", "--json", code=4))
    assert both[0]["amount"] == 1.0 and both[1] is None
    assert "soft delete of 2: applied online" in cli("delete", "cust", "2", "--event-time", str(now))
    cli("get", "cust", "2", code=4)
    assert json.loads(cli("query", "SELECT count(*) AS n FROM cust WHERE is_deleted", "--json")) == [{"n": 1}]
    assert "consistent" in cli("check", "cust")
    assert json.loads(cli("materialize", "cust", "--json"))["records"] == 4
    assert json.loads(cli("compact", "cust", "--json"))["files_after"] == 1
    entity = tmp_path / "entity.csv"
    pd.DataFrame({"id": [1, 3], "t": [now - 25, now - 25]}).to_csv(entity, index=False)
    rows = json.loads(cli("build-training-set", "--entity", str(entity), "-f", "cust:amount", "--event-time-column", "t", "--json"))
    assert [r["amount"] for r in rows] == [1.0, None]
    stored = json.loads(cli("build-training-set", "--entity", str(entity), "-f", "cust", "--event-time-column", "t",
                            "--output", "cust-train", "--json"))  # fmt: skip
    assert stored["dataset"] == "dataset/cust-train:1" and stored["columns"] == ["id", "t", "amount"]
    assert "cust:2" in cli("add-features", "cust", "-f", "score:Fractional")


def test_cli_errors_are_one_line(ws: Workspace) -> None:
    ws.features.create_group("g", record_identifier="id", event_time_feature="ts", features=["id:Integral", "ts:Fractional"])
    env = {**os.environ, "FORGEML_HOME": str(ws.home)}
    out = subprocess.run([sys.executable, "-m", "forgeml", "features", "put", "g", "--record", '{"id": "x", "ts": 1}'],
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr == "error: feature group 'g': feature 'id' row 0: 'x' is not an integer\n"
