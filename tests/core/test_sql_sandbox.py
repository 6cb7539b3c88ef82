"""The SQL sandbox: user SQL sees only the data registered into it, within time and row limits."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.core.sql_sandbox import Sandbox, SqlLimits, check_condition, select_statement
from forgeml.errors import ForbiddenError, ValidationError
from forgeml.settings import load_settings

SECRET = "hmac-key-7f3a9c-do-not-leak"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file standing in for a workspace secret (``<home>/secrets/pii-hmac.key``)."""
    path = tmp_path / "secrets" / "pii-hmac.key"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


@pytest.fixture
def box() -> Sandbox:
    sandbox = Sandbox({"t": pd.DataFrame({"a": [3, 1, 2], "s": ["x", "y", "z"]})}, limits=SqlLimits(timeout_seconds=1.0, max_rows=5))
    yield sandbox
    sandbox.close()


def test_registered_data_is_what_it_sees(tmp_path: Path) -> None:
    pq.write_table(pa.table({"k": [1, 2, 3]}), tmp_path / "f.parquet")
    tables = {
        "frame": pd.DataFrame({"k": [1, 2]}),
        "arrow": pa.table({"k": [5]}),
        "dataset": ds.dataset(str(tmp_path / "f.parquet")),
    }
    with Sandbox(tables, views={"combined": "SELECT k FROM frame UNION ALL SELECT k FROM arrow"}, options={"TimeZone": "UTC"}) as sb:
        assert sb.rows("SELECT sum(k) FROM frame") == [(3,)]
        assert sb.rows("FROM dataset ORDER BY k DESC") == [(3,), (2,), (1,)]
        assert sb.rows("WITH x AS (SELECT * FROM combined) SELECT count(*) FROM x;") == [(3,)]
        assert sb.frame("SELECT k FROM arrow")["k"].tolist() == [5]
        assert sb.rows("SELECT current_setting('TimeZone')") == [("UTC",)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT content FROM read_blob('{secret}')",
        "SELECT * FROM glob('/**')",
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_parquet('{secret}')",
        "SELECT * FROM '{secret}.csv'",
        "SELECT * FROM read_json_auto('{secret}')",
        "SELECT * FROM 'https://example.com/data.csv'",
    ],
)
def test_file_and_network_reads_are_forbidden(box: Sandbox, secret: Path, sql: str) -> None:
    with pytest.raises(ForbiddenError, match="may read only the data it is given") as err:
        box.rows(sql.format(secret=secret))
    assert SECRET not in str(err.value) and "root:" not in str(err.value)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("COPY (SELECT 'import os') TO '{tmp}/evil_train.py'", "COPY"),
        ("ATTACH '{tmp}/x.db' (TYPE sqlite)", "ATTACH"),
        ("INSTALL httpfs", "LOAD"),
        ("LOAD sqlite_scanner", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "SET"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("EXPORT DATABASE '{tmp}/dump'", "EXPORT"),
        ("CREATE TABLE t2 AS SELECT 1", "CREATE"),
        ("SELECT 1; COPY t TO '{tmp}/t.csv'", "COPY"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("EXPLAIN SELECT 1", "EXPLAIN"),
    ],
)
def test_only_one_select_statement(box: Sandbox, tmp_path: Path, sql: str, kind: str) -> None:
    with pytest.raises(ValidationError, match=f"only a single read-only SELECT query is allowed, got {kind}"):
        box.rows(sql.format(tmp=tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 'import os') TO '{tmp}/evil_train.py'",
        "EXPORT DATABASE '{tmp}/dump'",
        "INSTALL httpfs",
    ],
)
def test_forgeml_statements_cannot_reach_files_either(box: Sandbox, tmp_path: Path, sql: str) -> None:
    """``execute`` (ForgeML's own SQL around a user's fragment) runs on the same locked connection."""
    with pytest.raises(ForbiddenError):
        box.execute(sql.format(tmp=tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "sql", ["SET enable_external_access = true", "RESET enable_external_access", "SET lock_configuration = false", "PRAGMA threads = 8"]
)
def test_configuration_is_locked(box: Sandbox, sql: str) -> None:
    with pytest.raises(ValidationError, match="locked"):
        box.execute(sql)
    assert box.rows("SELECT current_setting('enable_external_access')") == [(False,)]


def test_extensions_do_not_load_themselves(box: Sandbox, tmp_path: Path) -> None:
    for sql in (f"SELECT * FROM sqlite_scan('{tmp_path}/x.db', 't')", f"SELECT * FROM read_xlsx('{tmp_path}/x.xlsx')"):
        with pytest.raises(ValidationError, match="extension"):
            box.rows(sql)
    with pytest.raises(ForbiddenError):
        box.rows("SELECT * FROM duckdb_extensions()")


def test_python_variables_are_not_scanned_by_name(box: Sandbox) -> None:
    hidden = pd.DataFrame({"s": [SECRET]})  # noqa: F841 - DuckDB would find it by name without the lockdown
    with pytest.raises(ValidationError, match="hidden") as err:
        box.rows("SELECT * FROM hidden")
    assert SECRET not in str(err.value)


def test_a_query_that_runs_forever_is_stopped(box: Sandbox) -> None:
    for sql in ("SELECT count(*) FROM range(1000000000000)", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"):
        with pytest.raises(ValidationError, match=r"ran longer than 1 s .*sql_timeout_seconds"):
            box.rows(sql)
    assert box.rows("SELECT 41 + 1") == [(42,)]  # the connection still works afterwards


def test_a_billion_rows_are_refused(box: Sandbox) -> None:
    with pytest.raises(ValidationError, match=r"returned more than 5 rows.*sql_max_rows"):
        box.rows("SELECT * FROM range(1000000000)")
    with pytest.raises(ValidationError, match="more than 5 rows"):
        box.frame("SELECT * FROM range(1000000000) a, range(10) b")
    assert len(box.frame("SELECT * FROM range(5)")) == 5
    assert box.rows("SELECT a FROM t ORDER BY a") == [(1,), (2,), (3,)]


def test_a_query_past_the_memory_limit_is_refused() -> None:
    with Sandbox({}, limits=SqlLimits(memory_limit="20MB")) as sb:
        with pytest.raises(ValidationError, match=r"needs more memory than the limit of 20MB .*sql_memory_limit"):
            sb.rows("SELECT length(string_agg(repeat('x', 1000), '')) FROM range(1000000)")
        assert sb.rows("SELECT count(*) FROM range(1000)") == [(1000,)]


def test_write_parquet_streams_a_result(box: Sandbox, tmp_path: Path) -> None:
    assert box.write_parquet("SELECT * FROM t WHERE a > 1", str(tmp_path / "out.parquet")) == 2
    assert pq.read_table(tmp_path / "out.parquet").column("a").to_pylist() == [3, 2]


def test_limits_come_from_settings(tmp_path: Path) -> None:
    s = load_settings(home=str(tmp_path), sql_timeout_seconds=2.5, sql_max_rows=7, sql_memory_limit="512MB")
    assert SqlLimits.from_settings(s) == SqlLimits(2.5, 7, "512MB")
    with Sandbox({}, limits=SqlLimits.from_settings(s)) as sb:
        assert sb.rows("SELECT current_setting('memory_limit')")[0][0].replace(" ", "") in ("512.0MiB", "488.2MiB", "512MB")
    with pytest.raises(ValidationError, match="invalid DuckDB setting memory_limit"):
        Sandbox({}, limits=SqlLimits(memory_limit="lots"))


@pytest.mark.parametrize("sql", ["SELECT 1", "with a as (select 1) select * from a", "FROM t", "VALUES (1)", "DESCRIBE SELECT 1", "select 1;"])
def test_select_statement_accepts_queries(sql: str) -> None:
    assert select_statement(sql) == sql.strip().rstrip(";")


@pytest.mark.parametrize(("sql", "message"), [("", "give one SELECT"), ("   ", "give one SELECT"), (None, "give one SELECT"), ("SELEC 1", "syntax error")])
def test_select_statement_refuses_non_queries(sql: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        select_statement(sql)


@pytest.mark.parametrize("text", ["age > 18", "state IN ('MA', 'NH')", "id IN (SELECT id FROM src WHERE id > 3)", "coalesce(x, 0) = 0"])
def test_check_condition_accepts_conditions(text: str) -> None:
    assert check_condition(text) == text


@pytest.mark.parametrize(
    "text",
    ["age > 3 GROUP BY 1", "age > 3 LIMIT 1", "age > 3 ORDER BY 1", "1=1; COPY src TO 'x.csv'", "age > (", "a > 1 QUALIFY 1",
     "age > 3) UNION ALL (SELECT 1", "", "1=1 UNION SELECT * FROM src"],
)  # fmt: skip
def test_check_condition_refuses_more_than_a_condition(text: str) -> None:
    with pytest.raises(ValidationError, match="where"):
        check_condition(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=60))
def test_any_text_is_a_statement_or_a_validation_error(text: str) -> None:
    for check in (select_statement, check_condition):
        with contextlib.suppress(ValidationError):
            assert isinstance(check(text), str)
