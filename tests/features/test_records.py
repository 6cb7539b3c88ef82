"""Single records through the SDK: PutRecord / GetRecord / DeleteRecord semantics, TTL, bad input."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError

NOW = time.time()


@pytest.fixture
def fs(ws: Workspace):  # type: ignore[no-untyped-def]
    ws.features.create_group("cust", record_identifier="id", event_time_feature="ts",
                             features=["id:String", "ts:Fractional", "amount:Fractional", "n:Integral", "city:String"])  # fmt: skip
    return ws.features


def test_put_get_only_newer_event_time_updates_online(fs) -> None:  # type: ignore[no-untyped-def]
    assert fs.put_record("cust", {"id": "a", "ts": NOW - 100, "amount": 1.5, "n": 1, "city": "x"}) == {"online_updated": True}
    got = fs.get_record("cust", "a")
    assert got["amount"] == 1.5 and got["n"] == 1 and got["city"] == "x" and got["id"] == "a"
    # epoch seconds are rounded to the microsecond
    assert got["ts"] == pd.Timestamp(round((NOW - 100) * 1e6), unit="us", tz="UTC").isoformat()
    # older and equal event times go to the offline store only
    assert fs.put_record("cust", {"id": "a", "ts": NOW - 200, "amount": 2.0}) == {"online_updated": False}
    assert fs.put_record("cust", {"id": "a", "ts": NOW - 100, "amount": 3.0}) == {"online_updated": False}
    assert fs.get_record("cust", "a")["amount"] == 1.5
    assert fs.put_record("cust", {"id": "a", "ts": NOW - 50, "amount": 4.0}) == {"online_updated": True}
    assert fs.get_record("cust", "a", features=["amount"]) == {"id": "a", "ts": pytest.approx(fs.get_record("cust", "a")["ts"]), "amount": 4.0}
    rows = fs.offline_rows("cust")
    assert len(rows) == 4 and set(rows.columns) >= {"api_invocation_time", "write_time", "is_deleted"}
    assert not rows["is_deleted"].any() and (rows["write_time"] >= rows["api_invocation_time"]).all()


def test_target_stores(fs) -> None:  # type: ignore[no-untyped-def]
    fs.put_record("cust", {"id": "on", "ts": NOW}, target_stores=["OnlineStore"])
    fs.put_record("cust", {"id": "off", "ts": NOW}, target_stores=["offline"])
    assert fs.get_record("cust", "on") is not None and fs.get_record("cust", "off") is None
    assert fs.offline_rows("cust")["id"].tolist() == ["off"]
    with pytest.raises(ValidationError, match="invalid target stores"):
        fs.put_record("cust", {"id": "x", "ts": NOW}, target_stores=["s3"])


def test_offline_only_group(ws: Workspace) -> None:
    ws.features.create_group("off", record_identifier="id", event_time_feature="ts",
                             features=["id:Integral", "ts:Fractional"], online_enabled=False)  # fmt: skip
    assert ws.features.put_record("off", {"id": 1, "ts": NOW}) == {"online_updated": False}
    assert len(ws.features.offline_rows("off")) == 1
    with pytest.raises(ValidationError, match="has no online store"):
        ws.features.get_record("off", 1)


def test_soft_delete(fs) -> None:  # type: ignore[no-untyped-def]
    fs.put_record("cust", {"id": "a", "ts": NOW - 10, "amount": 1.0})
    # not later than the online record: it stays, but the marker is written offline
    assert fs.delete_record("cust", "a", NOW - 20)["online_updated"] is False
    assert fs.get_record("cust", "a")["amount"] == 1.0
    assert fs.delete_record("cust", "a", NOW - 5)["online_updated"] is True
    assert fs.get_record("cust", "a") is None and fs.batch_get("cust", ["a"]) == [None]
    stored = fs.online.get("cust", "a")
    assert stored.deleted and stored.values() == {}
    markers = fs.offline_rows("cust").query("is_deleted")
    assert len(markers) == 2 and markers["amount"].isna().all() and set(markers["id"]) == {"a"}
    assert fs.latest_snapshot("cust").empty


def test_hard_delete(fs) -> None:  # type: ignore[no-untyped-def]
    fs.put_record("cust", {"id": "a", "ts": NOW - 10, "amount": 1.0})
    with pytest.raises(ValidationError, match="later than the online record"):
        fs.delete_record("cust", "a", NOW - 10, mode="hard")
    assert len(fs.offline_rows("cust")) == 1  # no marker written
    fs.delete_record("cust", "a", NOW - 1, mode="hard")
    assert fs.online.get("cust", "a") is None
    assert fs.offline_rows("cust")["is_deleted"].tolist() == [False, True]
    with pytest.raises(ValidationError, match="deletion mode"):
        fs.delete_record("cust", "a", NOW, mode="purge")


def test_ttl_expiry_and_per_record_override(ws: Workspace) -> None:
    ws.features.create_group("t", record_identifier="id", event_time_feature="ts",
                             features=["id:Integral", "ts:Fractional", "v:Integral"], online_ttl="1h")  # fmt: skip
    ws.features.put_record("t", {"id": 1, "ts": NOW - 7200, "v": 1})  # expired an hour ago
    ws.features.put_record("t", {"id": 2, "ts": NOW - 60, "v": 2})
    ws.features.put_record("t", {"id": 3, "ts": NOW - 7200, "v": 3}, ttl="1d")
    assert ws.features.batch_get("t", [1, 2, 3]) == [None, {"id": 2, "ts": pytest.approx(ws.features.get_record("t", 2)["ts"]), "v": 2}, ws.features.get_record("t", 3)]
    assert ws.features.get_record("t", 3)["v"] == 3
    expires = ws.features.online.get("t", "2").expires_at_us
    assert expires == round((NOW - 60) * 1e6) + 3600 * 1_000_000
    assert ws.features.online.purge_expired("t", round(time.time() * 1e6)) == 1


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"ts": NOW, "amount": 1.0}, "record identifier 'id' is missing"),
        ({"id": None, "ts": NOW}, "record identifier 'id' is missing in row 0"),
        ({"id": "a"}, "event time 'ts' is missing"),
        ({"id": "a", "ts": None}, "event time is missing in row 0"),
        ({"id": "a", "ts": "yesterday"}, "unparseable event time 'yesterday'"),
        ({"id": "a", "ts": NOW, "amount": "lots"}, "feature 'amount' row 0: 'lots' is not a number"),
        ({"id": "a", "ts": NOW, "n": 1.5}, "feature 'n' row 0: 1.5 is not an integer"),
        ({"id": "a", "ts": NOW, "n": "3"}, "feature 'n' row 0: '3' is not an integer"),
        ({"id": "a", "ts": NOW, "city": 7}, "feature 'city' row 0: 7 is not text"),
        ({"id": "a", "ts": NOW, "colour": "red"}, "has no feature\\(s\\) 'colour'"),
        ({"id": "", "ts": NOW}, "record identifier 'id' is empty"),
    ],
)
def test_bad_records_are_refused_and_nothing_is_written(fs, record: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        fs.put_record("cust", record)
    assert fs.offline_rows("cust").empty and list(fs.online.scan("cust")) == []


def test_bad_bulk_frame_writes_nothing(fs) -> None:  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(100)], "ts": [NOW] * 100, "n": [*range(99), "x"]})
    with pytest.raises(ValidationError, match="feature 'n' row 99: 'x' is not an integer"):
        fs.ingest("cust", frame, batch_size=10)
    assert fs.offline_rows("cust").empty and list(fs.online.scan("cust")) == []


def test_event_time_formats(ws: Workspace) -> None:
    ws.features.create_group("e", record_identifier="id", event_time_feature="ts", features=["id:Integral", "ts:String"])
    frame = pd.DataFrame({"id": [1, 2, 3, 4],
                          "ts": ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05+02:00", "2026-01-02 03:04:05", 1767323045.5]})  # fmt: skip
    ws.features.ingest("e", frame)
    got = ws.features.offline_rows("e").sort_values("id")["ts"].tolist()
    assert [t.isoformat() for t in got] == [
        "2026-01-02T03:04:05+00:00", "2026-01-02T01:04:05+00:00", "2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05.500000+00:00",
    ]  # fmt: skip


def test_stream_push_batches(fs) -> None:  # type: ignore[no-untyped-def]
    with fs.stream("cust", max_records=3, max_delay=60) as stream:
        for i in range(7):
            stream.put({"id": f"s{i}", "ts": NOW, "amount": float(i)})
        with pytest.raises(ValidationError):
            stream.put({"id": "bad", "ts": NOW, "amount": "x"})
        assert stream.batches == 2 and len(fs.offline_rows("cust")) == 6
    assert stream.written == 7 and len(fs.offline_rows("cust")) == 7
    assert fs.get_record("cust", "s6")["amount"] == 6.0
    timed = fs.stream("cust", max_records=100, max_delay=0.1)
    timed.put({"id": "late", "ts": NOW})
    deadline = time.time() + 10
    while fs.get_record("cust", "late") is None and time.time() < deadline:
        time.sleep(0.05)
    timed.close()
    assert fs.get_record("cust", "late") is not None and timed.batches == 1
