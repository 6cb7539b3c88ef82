"""CustomSQL rules and ``where`` filters run in the SQL sandbox, on every face (SDK, CLI, REST).

Each attack from issue 11 (a file written with COPY, /etc/passwd and the workspace's PII key read
through the error message, ``glob('/**')``, ATTACH downloading an extension, a query that runs
forever, a billion rows) must fail with a clear 4xx error; legitimate rules still work.
"""

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

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.data import validate
from forgeml.data._pii import workspace_secret
from forgeml.errors import ForbiddenError, ValidationError
from forgeml.settings import Settings, load_settings


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return load_settings(home=str(settings.home), sql_timeout_seconds=1.0, sql_max_rows=1000)


@pytest.fixture
def loans(limited: Settings) -> Iterator[Workspace]:
    ws = Workspace(limited)
    rng = np.random.default_rng(11)
    n = 300
    ws.datasets.create("loans", pd.DataFrame({
        "id": np.arange(n), "amount": rng.normal(100, 20, n).round(1), "region": rng.choice(["n", "s", "e"], n),
    }))  # fmt: skip
    yield ws
    ws.close()


def attacks(home: Path, tmp: Path) -> list[tuple[dict[str, str], type[Exception], str]]:
    """(rule mapping, error, text in the message) for each attack of the issue."""
    key = workspace_secret(home, "pii-hmac")
    assert key  # the secret exists, so reading it would succeed without the sandbox
    return [
        ({"rule": "CustomSQL", "sql": f"copy (select 'import os; os.system(1)') to '{tmp}/evil_train.py'", "condition": "= 1"},
         ValidationError, "only a single read-only SELECT query is allowed, got COPY"),
        ({"rule": "CustomSQL", "sql": "select length(content) from read_text('/etc/passwd')", "condition": "> 0"},
         ForbiddenError, 'Cannot access file "/etc/passwd"'),
        ({"rule": "CustomSQL", "sql": f"select content from read_blob('{home}/secrets/pii-hmac.key')", "condition": "> 0"},
         ForbiddenError, "pii-hmac.key"),
        ({"rule": "CustomSQL", "sql": "select count(*) from glob('/**')", "condition": "> 0"}, ForbiddenError, 'Cannot access file "/**"'),
        ({"rule": "CustomSQL", "sql": f"attach '{tmp}/x.db' (type sqlite)", "condition": "= 1"},
         ValidationError, "got ATTACH"),
        ({"rule": "CustomSQL", "sql": "select count(*) from range(1000000000000)", "condition": "> 0"},
         ValidationError, "ran longer than 1 s"),
        ({"rule": "CustomSQL", "sql": "select * from range(1000000000)", "condition": "> 0"},
         ValidationError, "returned more than 1,000 rows"),
        ({"rule": "IsComplete", "column": "id", "where": "id IN (SELECT length(content) FROM read_text('/etc/passwd'))"},
         ForbiddenError, 'Cannot access file "/etc/passwd"'),
        ({"rule": "IsComplete", "column": "id", "where": "id > 0) t, read_text('/etc/passwd') AS x WHERE (true"},
         ValidationError, "where: not a condition"),
        ({"rule": "IsComplete", "column": "id", "where": "id > (SELECT count(*) FROM range(1000000000000))"},
         ValidationError, "ran longer than 1 s"),
    ]  # fmt: skip


def _no_leak(message: str, home: Path) -> None:
    key = (home / "secrets" / "pii-hmac.key").read_bytes()
    assert "root:" not in message and key.hex() not in message and repr(key)[2:-1] not in message


def test_attacks_fail_over_the_sdk(loans: Workspace, tmp_path: Path) -> None:
    for rule, error, text in attacks(loans.home, tmp_path):
        with pytest.raises(error, match=None) as err:
            loans.prep.validate("loans", [rule])
        assert text in str(err.value), (rule, str(err.value))
        _no_leak(str(err.value), loans.home)
    assert not (tmp_path / "evil_train.py").exists() and not (tmp_path / "x.db").exists()
    assert loans.prep.reports("loans", "validation") == []  # no half-written report


def test_attacks_fail_over_rest(loans: Workspace, tmp_path: Path) -> None:
    with TestClient(create_app(loans)) as client:
        for rule, error, text in attacks(loans.home, tmp_path):
            response = client.post("/datasets/loans/validate", json={"rules": [rule]})
            assert response.status_code == (403 if error is ForbiddenError else 400), response.text
            assert response.json()["error"] == error.__name__ and text in response.json()["message"]
            _no_leak(response.text, loans.home)
    assert not (tmp_path / "evil_train.py").exists()


def test_attacks_fail_over_the_cli(loans: Workspace, limited: Settings, tmp_path: Path) -> None:
    """Through the real entry point: one line on stderr, exit 2 (ValidationError) or 11 (ForbiddenError)."""
    env = {**limited.to_env(), "PATH": "/usr/bin:/bin"}
    loans.close()
    for rule, error, text in attacks(limited.resolved_home, tmp_path)[:4]:
        rules = tmp_path / "rules.yaml"
        rules.write_text(json.dumps({"rules": [rule]}))
        proc = subprocess.run([sys.executable, "-m", "forgeml", "data", "validate", "loans", "--rules", str(rules)],
                              capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
        assert proc.returncode == (11 if error is ForbiddenError else 2), proc.stderr
        assert proc.stderr.startswith("error: ") and text in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        _no_leak(proc.stderr, limited.resolved_home)
    assert not (tmp_path / "evil_train.py").exists()


def test_legitimate_user_sql_still_works(loans: Workspace) -> None:
    rules = [
        {"rule": "CustomSQL", "sql": "select count(*) from primary where region != 'primary'", "condition": "= 300"},
        {"rule": "CustomSQL", "sql": "with p as (select * from primary) select max(amount) from p -- primary", "condition": "< 1000"},
        {"rule": "ColumnValues", "column": "amount", "condition": "> 95", "where": "region = 'n'"},
        {"rule": "RowCount", "condition": "> 10", "where": "amount > 100"},
    ]
    out = loans.prep.validate("loans", rules, clean_name="loans-clean")["report"]
    assert [r["outcome"] for r in out["rules"]] == ["Passed", "Passed", "Failed", "Passed"]
    frame = loans.datasets.read("loans")
    failing = frame[(frame.region == "n") & ~(frame.amount > 95)]
    assert out["rows_quarantined"] == len(failing) > 0
    quarantine = loans.datasets.read("loans-dq-quarantine")
    assert sorted(quarantine["id"]) == sorted(failing["id"])
    assert len(loans.datasets.read("loans-clean")) == 300 - len(failing)  # nothing dropped


def test_where_naming_no_column_is_a_clear_error(loans: Workspace) -> None:
    with pytest.raises(ValidationError, match=r'rule IsComplete "id" where "nope > 1": where failed: Binder Error'):
        loans.prep.validate("loans", [{"rule": "IsComplete", "column": "id", "where": "nope > 1"}])


def test_sandboxed_rules_read_parquet_files_and_folders(tmp_path: Path) -> None:
    """A ruleset with SQL reads its data through Arrow: same columns and types as DuckDB's reader."""
    frame = pd.DataFrame({"id": np.arange(20), "part": np.repeat([1, 2], 10), "x": np.linspace(0, 1, 20)})
    frame.to_parquet(tmp_path / "one.parquet")
    frame.to_parquet(tmp_path / "hive", partition_cols=["part"])
    frame.to_csv(tmp_path / "one.csv", index=False)
    rules = [
        {"rule": "CustomSQL", "sql": "select sum(part) from primary", "condition": "= 30"},
        {"rule": "ColumnDataType", "column": "part", "condition": '= "BIGINT"'},
        {"rule": "IsUnique", "column": "id", "where": "x >= 0"},
    ]
    for source in ("one.parquet", "hive", "one.csv"):
        report = validate(str(tmp_path / source), rules)
        assert report["passed"], (source, report["rules"])
        assert report["rows"] == 20
