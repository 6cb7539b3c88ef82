"""Offline store: extra columns, partitions, dataset_builder dedup/deletion rules, as_of, SQL, compaction."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError

DAY = 86400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def fs(ws: Workspace):  # type: ignore[no-untyped-def]
    ws.features.create_group("acct", record_identifier="id", event_time_feature="ts",
                             features=["id:String", "ts:Fractional", "v:Integral"])  # fmt: skip
    return ws.features


def _vals(frame: pd.DataFrame) -> list[tuple[str, float, int | None]]:
    out = []
    for row in frame.itertuples(index=False):
        out.append((row.id, row.ts.timestamp() - T0, None if pd.isna(row.v) else int(row.v)))
    return sorted(out)


def test_partitions_and_extra_columns(fs) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({"id": ["a", "b", "c"], "ts": [T0, T0 + DAY, T0 + DAY + 5], "v": [1, 2, 3]})
    fs.ingest("acct", frame)
    files = fs.offline("acct").files()
    assert sorted(Path(f).parent.name for f in files) == ["event_date=2026-01-01", "event_date=2026-01-02"]
    rows = fs.offline_rows("acct")
    assert list(rows.columns) == ["id", "ts", "v", "api_invocation_time", "write_time", "is_deleted"]
    assert rows["api_invocation_time"].is_unique and rows["write_time"].nunique() == 1


def test_month_partitions(ws: Workspace) -> None:
    ws.features.create_group("m", record_identifier="id", event_time_feature="ts", features=["id:Integral", "ts:Fractional"],
                             offline_partition="month")  # fmt: skip
    ws.features.ingest("m", pd.DataFrame({"id": [1, 2, 3], "ts": [T0, T0 + 20 * DAY, T0 + 40 * DAY]}))
    assert sorted(Path(f).parent.name for f in ws.features.offline("m").files()) == ["event_date=2026-01", "event_date=2026-02"]
    with pytest.raises(ValidationError, match="day, month or year"):
        ws.features.create_group("w", record_identifier="id", event_time_feature="ts", features=["id:Integral", "ts:Fractional"],
                                 offline_partition="week")  # fmt: skip


def test_dedup_and_deletion_rules(fs) -> None:  # type: ignore[no-untyped-def]
    put = lambda rid, t, v: fs.put_record("acct", {"id": rid, "ts": T0 + t, "v": v})  # noqa: E731
    put("a", 10, 1)
    put("a", 10, 2)          # same (id, event time), later api_invocation_time: wins dedup
    put("a", 20, 3)
    fs.delete_record("acct", "a", T0 + 15)  # marker: rows at or before it are gone
    fs.delete_record("acct", "b", T0 + 5)
    put("b", 5, 7)           # same event time as the marker but invoked later: survives
    put("c", 1, 9)
    fs.delete_record("acct", "c", T0 + 2)   # c is deleted entirely
    assert _vals(fs.records("acct")) == [("a", 20, 3), ("b", 5, 7)]
    assert _vals(fs.latest_snapshot("acct")) == [("a", 20, 3), ("b", 5, 7)]
    # include_deleted: markers dropped, history kept (dedup still on)
    assert _vals(fs.records("acct", include_deleted=True)) == [("a", 10, 2), ("a", 20, 3), ("b", 5, 7), ("c", 1, 9)]
    assert _vals(fs.records("acct", include_deleted=True, include_duplicates=True)) == [
        ("a", 10, 1), ("a", 10, 2), ("a", 20, 3), ("b", 5, 7), ("c", 1, 9)]  # fmt: skip
    assert _vals(fs.records("acct", event_time_range=(T0 + 4, T0 + 12), include_deleted=True)) == [("a", 10, 2), ("b", 5, 7)]


def test_recent_records_and_as_of_time_travel(fs) -> None:  # type: ignore[no-untyped-def]
    fs.ingest("acct", pd.DataFrame({"id": ["a", "a", "b"], "ts": [T0 + 1, T0 + 2, T0 + 1], "v": [1, 2, 3]}))
    time.sleep(0.01)
    middle = time.time()
    time.sleep(0.01)
    fs.ingest("acct", pd.DataFrame({"id": ["a", "b"], "ts": [T0 + 3, T0 + 0.5], "v": [4, 5]}))
    fs.delete_record("acct", "b", T0 + 9)
    assert _vals(fs.recent_records("acct", 2)) == [("a", 2, 2), ("a", 3, 4)]
    assert _vals(fs.latest_snapshot("acct", as_of=middle)) == [("a", 2, 2), ("b", 1, 3)]
    assert _vals(fs.recent_records("acct", 3, as_of=middle)) == [("a", 1, 1), ("a", 2, 2), ("b", 1, 3)]
    with pytest.raises(ValidationError):
        fs.recent_records("acct", 0)


def test_sql_query(fs, ws: Workspace) -> None:  # type: ignore[no-untyped-def]
    ws.features.create_group("two-words", record_identifier="k", event_time_feature="t", features=["k:Integral", "t:Fractional"])
    fs.ingest("acct", pd.DataFrame({"id": ["a", "b"], "ts": [T0, T0], "v": [1, 2]}))
    assert fs.query("SELECT sum(v) AS s FROM acct WHERE NOT is_deleted")["s"].tolist() == [3]
    assert fs.query('SELECT count(*) AS n FROM "two-words"')["n"].tolist() == [0]
    assert fs.query("SELECT count(*) AS n FROM two_words")["n"].tolist() == [0]
    for bad in ("DROP TABLE acct", "COPY acct TO '/tmp/x.csv'", "SELECT 1; SELECT 2"):
        with pytest.raises(ValidationError, match="read-only"):
            fs.query(bad)
    with pytest.raises(ValidationError, match="query failed"):
        fs.query("SELECT nope FROM acct")


def test_compaction_keeps_every_row(fs) -> None:  # type: ignore[no-untyped-def]
    for i in range(6):
        fs.put_record("acct", {"id": f"r{i % 3}", "ts": T0 + i * DAY / 2, "v": i})
    fs.delete_record("acct", "r0", T0 + 10 * DAY)
    before = fs.offline_rows("acct").sort_values("api_invocation_time").reset_index(drop=True)
    snapshot = fs.latest_snapshot("acct")
    stats = fs.compact("acct")
    assert stats["files_before"] == 7 and stats["files_after"] == 4
    after = fs.offline_rows("acct").sort_values("api_invocation_time").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    pd.testing.assert_frame_equal(snapshot, fs.latest_snapshot("acct"))
    assert len(list(fs.offline("acct").commits.glob("*.json"))) == 1
    fs.put_record("acct", {"id": "r9", "ts": T0, "v": 9})
    assert len(fs.offline_rows("acct")) == 8


def test_new_version_reads_old_files(fs) -> None:  # type: ignore[no-untyped-def]
    fs.put_record("acct", {"id": "a", "ts": T0, "v": 1})
    fs.add_features("acct", ["score:Fractional"])
    fs.put_record("acct", {"id": "b", "ts": T0, "v": 2, "score": 0.5})
    snap = fs.latest_snapshot("acct").sort_values("id")
    assert snap["score"].isna().tolist() == [True, False]


def test_materialize_and_consistency(fs) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    fs.ingest("acct", pd.DataFrame({"id": ["a", "b", "c"], "ts": [now - 3, now - 2, now - 1], "v": [1, 2, 3]}),
              target_stores=["offline"])  # fmt: skip
    fs.delete_record("acct", "c", now, target_stores=["offline"])
    report = fs.check_consistency("acct")
    assert not report["consistent"] and report["mismatches"] == 2
    assert {e["reason"] for e in report["examples"]} == {"missing online"}
    assert fs.materialize("acct") == {"records": 3, "changed": 3}
    assert fs.check_consistency("acct")["consistent"]
    assert fs.get_record("acct", "a")["v"] == 1 and fs.get_record("acct", "c") is None
    fs.put_record("acct", {"id": "a", "ts": now - 2.5, "v": 10}, target_stores=["online"])
    bad = fs.check_consistency("acct")
    assert bad["mismatches"] == 1 and bad["examples"][0]["reason"] == "values differ" and bad["examples"][0]["record_id"] == "a"
    fs.put_record("acct", {"id": "a", "ts": now - 2.5, "v": 11}, target_stores=["offline"])
    fs.materialize("acct")  # equal event time: the offline row wins
    assert fs.check_consistency("acct")["consistent"] and fs.get_record("acct", "a")["v"] == 11
