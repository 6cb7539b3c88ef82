"""Feature-store SQL (``ws.features.query``, ``forgeml features query``, ``POST /feature-groups/query``)
runs in the SQL sandbox: it sees the offline rows and nothing of the host."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.data._pii import workspace_secret
from forgeml.errors import ForbiddenError, ValidationError
from forgeml.settings import Settings, load_settings

T0 = 1_767_225_600.0


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return load_settings(home=str(settings.home), sql_timeout_seconds=1.0, sql_max_rows=100)


@pytest.fixture
def fws(limited: Settings) -> Iterator[Workspace]:
    ws = Workspace(limited)
    ws.features.create_group("acct", record_identifier="id", event_time_feature="ts", features=["id:String", "ts:Fractional", "v:Integral"])
    ws.features.ingest("acct", pd.DataFrame({"id": ["a", "b", "c"], "ts": [T0, T0, T0 + 1], "v": [1, 2, 3]}))
    ws.features.create_group("late-group", record_identifier="k", event_time_feature="t", features=["k:Integral", "t:Fractional"])
    yield ws
    ws.close()


def attacks(home: Path, tmp: Path) -> list[tuple[str, type[Exception], str]]:
    workspace_secret(home, "pii-hmac")
    return [
        ("SELECT * FROM read_text('/etc/passwd')", ForbiddenError, 'Cannot access file "/etc/passwd"'),
        (f"SELECT content FROM read_blob('{home}/secrets/pii-hmac.key')", ForbiddenError, "pii-hmac.key"),
        (f"SELECT * FROM read_parquet('{home}/**/*.parquet')", ForbiddenError, "Cannot access file"),
        ("SELECT count(*) FROM glob('/**')", ForbiddenError, 'Cannot access file "/**"'),
        (f"COPY acct TO '{tmp}/evil_train.py'", ValidationError, "got COPY"),
        (f"SELECT 1; COPY acct TO '{tmp}/evil_train.py'", ValidationError, "got COPY"),
        (f"ATTACH '{tmp}/x.db' (TYPE sqlite)", ValidationError, "got ATTACH"),
        ("SELECT count(*) FROM range(1000000000000)", ValidationError, "ran longer than 1 s"),
        ("SELECT * FROM range(1000000000)", ValidationError, "returned more than 100 rows"),
    ]


def _no_leak(text: str, home: Path) -> None:
    key = (home / "secrets" / "pii-hmac.key").read_bytes()
    assert "root:" not in text and key.hex() not in text


def test_sdk(fws: Workspace, tmp_path: Path) -> None:
    assert fws.features.query("SELECT id, v FROM acct ORDER BY v DESC")["id"].tolist() == ["c", "b", "a"]
    assert fws.features.query('SELECT count(*) AS n FROM "late-group" JOIN late_group USING (k)')["n"].tolist() == [0]
    for sql, error, text in attacks(fws.home, tmp_path):
        with pytest.raises(error) as err:
            fws.features.query(sql)
        assert text in str(err.value), (sql, str(err.value))
        _no_leak(str(err.value), fws.home)
    assert not (tmp_path / "evil_train.py").exists()


def test_rest(fws: Workspace, tmp_path: Path) -> None:
    with TestClient(create_app(fws)) as client:
        assert client.post("/feature-groups/query", json={"sql": "SELECT sum(v) AS s FROM acct"}).json() == [{"s": 6}]
        for sql, error, text in attacks(fws.home, tmp_path):
            response = client.post("/feature-groups/query", json={"sql": sql})
            assert response.status_code == (403 if error is ForbiddenError else 400), response.text
            assert text in response.json()["message"]
            _no_leak(response.text, fws.home)
    assert not (tmp_path / "evil_train.py").exists()


def test_cli(fws: Workspace, limited: Settings, tmp_path: Path) -> None:
    env = {**limited.to_env(), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    home = fws.home
    fws.close()
    ok = subprocess.run([sys.executable, "-m", "forgeml", "features", "query", "SELECT count(*) AS n FROM acct", "--json"],
                        capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert ok.returncode == 0 and '"n": 3' in ok.stdout, ok.stderr
    for sql, error, text in [a for a in attacks(home, tmp_path) if "range" not in a[0]][:5]:
        proc = subprocess.run([sys.executable, "-m", "forgeml", "features", "query", sql], capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == (11 if error is ForbiddenError else 2), proc.stderr
        assert proc.stderr.strip().startswith("error: ") and text in proc.stderr and "Traceback" not in proc.stderr
        _no_leak(proc.stderr, home)
    assert not (tmp_path / "evil_train.py").exists()
