"""SQL ingestion against real PostgreSQL and SQLite: full load, watermark sync, upsert, bad input."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from forgeml.core.workspace import Workspace
from forgeml.errors import BackendUnavailableError, NotFoundError, ValidationError

T0 = dt.datetime(2024, 1, 1, 12, 0, 0)


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        yield request.getfixturevalue("postgres_url")
    else:
        yield f"sqlite:///{tmp_path / 'source.db'}"


def make_table(url: str, rows: list[dict]) -> sa.Engine:  # type: ignore[type-arg]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    meta = sa.MetaData()
    table = sa.Table(
        "loans", meta,
        sa.Column("id", sa.Integer, primary_key=True), sa.Column("amount", sa.Float),
        sa.Column("status", sa.String(20)), sa.Column("updated_at", sa.DateTime),
    )  # fmt: skip
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    return engine


def rows(ids: range, status: str = "new", at: dt.datetime = T0) -> list[dict]:  # type: ignore[type-arg]
    return [{"id": i, "amount": i * 10.5, "status": status, "updated_at": at + dt.timedelta(minutes=i)} for i in ids]


def test_full_load_then_incremental_on_watermark(ws: Workspace, db_url: str) -> None:
    engine = make_table(db_url, rows(range(1, 4)))
    first = ws.datasets.ingest(db_url, "loans", table="loans", watermark="id")
    assert first.data["rows"] == 3 and first.data["sync"]["watermark"] == {"type": "int", "value": 3}
    assert first.data["sync"]["incremental"] is False
    assert ws.datasets.read("loans")["amount"].tolist() == [10.5, 21.0, 31.5]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO loans (id, amount, status, updated_at) VALUES (4, 42.0, 'new', :t), (5, 52.5, 'new', :t)"), {"t": T0})
    second = ws.datasets.ingest(db_url, "loans", table="loans", watermark="id")
    assert (second.version, second.data["rows"], second.data["mode"]) == (2, 5, "append")
    assert second.data["sync"]["rows_fetched"] == 2 and second.data["sync"]["previous_watermark"]["value"] == 3
    assert ws.datasets.read("loans")["id"].tolist() == [1, 2, 3, 4, 5]
    assert ws.datasets.read("loans", 1)["id"].tolist() == [1, 2, 3]
    same = ws.datasets.ingest(db_url, "loans", table="loans", watermark="id")
    assert same.version == 2  # nothing newer than the watermark: no new version
    full = ws.datasets.ingest(db_url, "loans", table="loans", watermark="id", full=True)
    assert (full.version, full.data["rows"], full.data["mode"]) == (3, 5, "replace")
    engine.dispose()


def test_timestamp_watermark_with_key_upserts_changed_rows(ws: Workspace, db_url: str) -> None:
    engine = make_table(db_url, rows(range(1, 4)))
    ws.datasets.ingest(db_url, "l", table="loans", watermark="updated_at", key=["id"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE loans SET status = 'approved', updated_at = :t WHERE id = 2"), {"t": T0 + dt.timedelta(days=1)})
        conn.execute(sa.text("INSERT INTO loans VALUES (9, 1.0, 'new', :t)"), {"t": T0 + dt.timedelta(days=2)})
    rec = ws.datasets.ingest(db_url, "l", table="loans", watermark="updated_at", key=["id"])
    got = ws.datasets.read("l").sort_values("id")
    assert rec.data["mode"] == "upsert" and rec.data["sync"]["rows_fetched"] == 2
    assert got[["id", "status"]].values.tolist() == [[1, "new"], [2, "approved"], [3, "new"], [9, "new"]]
    assert rec.data["sync"]["watermark"] == {"type": "datetime", "value": (T0 + dt.timedelta(days=2)).isoformat()}
    engine.dispose()


def test_query_source_with_watermark(ws: Workspace, db_url: str) -> None:
    engine = make_table(db_url, rows(range(1, 6)))
    q = "SELECT id, amount FROM loans WHERE amount > 20"
    rec = ws.datasets.ingest(db_url, "q", query=q, watermark="id")
    assert ws.datasets.read("q")["id"].tolist() == [2, 3, 4, 5] and rec.spec["query"] == q
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO loans VALUES (6, 5.0, 'x', :t), (7, 70.0, 'x', :t)"), {"t": T0})
    ws.datasets.ingest(db_url, "q", query=q, watermark="id")
    assert ws.datasets.read("q")["id"].tolist() == [2, 3, 4, 5, 7]
    engine.dispose()


def test_bad_sql_sources(ws: Workspace, db_url: str) -> None:
    make_table(db_url, rows(range(1, 3))).dispose()
    with pytest.raises(NotFoundError, match="table 'nope' does not exist"):
        ws.datasets.ingest(db_url, "b", table="nope")
    with pytest.raises(NotFoundError, match="no watermark column 'ghost'"):
        ws.datasets.ingest(db_url, "b", table="loans", watermark="ghost")
    with pytest.raises(ValidationError, match=r"query: .*no_such_column"):
        ws.datasets.ingest(db_url, "b", query="SELECT no_such_column FROM loans")
    with pytest.raises(ValidationError, match="exactly one of table= or query="):
        ws.datasets.ingest(db_url, "b")
    with pytest.raises(ValidationError, match="apply to database URLs only"):
        ws.datasets.ingest("file.csv", "b", table="loans")
    assert ws.datasets.list() == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_down_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    url = f"postgresql://postgres:secret@127.0.0.1:{_closed_port()}/test"
    with pytest.raises(BackendUnavailableError, match=r"database postgresql://postgres:\*\*\*@127.0.0.1:\d+/test is unreachable") as err:
        ws.datasets.ingest(url, "down", table="loans")
    assert "secret" not in str(err.value)
    with pytest.raises(BackendUnavailableError, match=r"SQLite database .*missing\.db does not exist"):
        ws.datasets.ingest(f"sqlite:///{tmp_path / 'missing.db'}", "down", table="loans")
    assert not (tmp_path / "missing.db").exists()
    assert ws.datasets.list() == []


def test_schema_change_in_source_is_refused(ws: Workspace, postgres_url: str) -> None:
    engine = make_table(postgres_url, rows(range(1, 3)))
    ws.datasets.ingest(postgres_url, "s", table="loans", watermark="id")
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE loans ALTER COLUMN amount TYPE text"))
        conn.execute(sa.text("INSERT INTO loans VALUES (3, 'plenty', 'new', :t)"), {"t": T0})
    with pytest.raises(ValidationError, match=r"column 'amount' is double; string values such as 'plenty'"):
        ws.datasets.ingest(postgres_url, "s", table="loans", watermark="id")
    assert [r.version for r in ws.datasets.versions("s")] == [1]
    engine.dispose()


def test_sqlite_values_of_the_wrong_type_are_quarantined(ws: Workspace, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dyn.db'}"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER, amount)"))  # no type: SQLite keeps what it gets
        conn.execute(sa.text("INSERT INTO t VALUES (1, 10), (2, 'twenty'), (3, 30.5)"))
    rec = ws.datasets.ingest(url, "dyn", table="t")
    assert ws.datasets.read("dyn").to_dict("list") == {"id": [1, 3], "amount": [10.0, 30.5]}
    q = ws.datasets.read("dyn-quarantine")
    assert q["line"].tolist() == [2] and "expected int, got str 'twenty'" in q["error"][0]
    assert rec.data["quarantine"]["rows"] == 1
    engine.dispose()


def test_postgres_types_map_to_arrow(ws: Workspace, postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id bigint, price numeric(10,2), ok boolean, day date, ref uuid, at timestamptz)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, 9.99, true, '2024-02-29', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-01 10:00+00')"))
    rec = ws.datasets.ingest(postgres_url, "typed", table="t")
    types = {c["name"]: c["type"] for c in rec.data["arrow_schema"]}
    assert types.pop("at").startswith("timestamp[us, tz=")  # the server's zone name for UTC
    assert types == {"id": "int64", "price": "double", "ok": "bool", "day": "date32[day]", "ref": "string"}
    row = ws.datasets.read("typed").iloc[0]
    assert row["at"] == pd.Timestamp("2024-01-01 10:00", tz="UTC")
    assert row["price"] == 9.99 and row["ref"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" and str(row["day"]) == "2024-02-29"
    engine.dispose()
