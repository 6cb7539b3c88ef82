"""Versioned datasets: immutable versions, schema, content hash, append/upsert, partitions, diff."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeml.core.workspace import Workspace
from forgeml.data import content_hash, diff_tables
from forgeml.errors import NotFoundError, ValidationError


def frame(n: int = 6, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({
        "id": np.arange(offset, offset + n, dtype="int64"),
        "day": [dt.date(2024, 1, 1 + (i % 3)) for i in range(n)],
        "amount": [float(i) * 1.5 if i % 4 else None for i in range(n)],
        "label": [f"r{i}" if i % 5 else None for i in range(n)],
    })  # fmt: skip


def test_versions_are_immutable_and_readable(any_ws: Workspace) -> None:
    ws = any_ws  # plain and with encryption at rest
    first = ws.datasets.create("loans", frame(4))
    second = ws.datasets.create("loans", frame(3, offset=10))
    assert (first.version, second.version) == (1, 2)
    pd.testing.assert_frame_equal(ws.datasets.read("loans", 1), frame(4))
    pd.testing.assert_frame_equal(ws.datasets.read("loans"), frame(3, offset=10))
    assert [r.version for r in ws.datasets.versions("loans")] == [2, 1]
    assert ws.datasets.get("loans", 1).data["rows"] == 4
    nullable = ws.datasets.commit("nullable", pa.table({"i": pa.array([1, None]), "b": pa.array([True, None]), "s": ["x", None]}))
    for name, record in (("loans", first), ("nullable", nullable)):
        # the recorded pandas dtypes are the ones read() gives
        assert [c["type"] for c in record.data["schema"]] == [str(t) for t in ws.datasets.read(name, 1).dtypes]
    assert ws.datasets.get("loans", 1).data["arrow_schema"] == [
        {"name": "id", "type": "int64"}, {"name": "day", "type": "date32[day]"},
        {"name": "amount", "type": "double"}, {"name": "label", "type": "string"},
    ]  # fmt: skip


def test_content_hash_is_of_rows_not_files(ws: Workspace) -> None:
    a = ws.datasets.create("h", frame(5))
    b = ws.datasets.create("h", frame(5), partition_by="day")
    c = ws.datasets.create("h", frame(5).assign(amount=lambda f: f["amount"].fillna(0.0)))
    assert a.data["artifact"] != b.data["artifact"]
    # partitioned versions come back grouped by partition: same rows, other order -> other hash
    assert a.data["content_hash"] != b.data["content_hash"]
    assert content_hash(ws.datasets.read_table("h", 2)) == b.data["content_hash"]
    assert content_hash(pa.Table.from_pandas(frame(5), preserve_index=False)) == a.data["content_hash"]
    assert c.data["content_hash"] != a.data["content_hash"]  # a null differs from 0.0


def test_hive_partitioned_version_round_trips(any_ws: Workspace) -> None:
    ws = any_ws  # plain and with encryption at rest
    rec = ws.datasets.create("p", frame(9), partition_by="day")
    assert rec.data["layout"] == "hive" and rec.data["partition_by"] == "day"
    folder = ws.datasets.local_path("p")
    assert sorted(p.name for p in folder.iterdir()) == ["day=2024-01-01", "day=2024-01-02", "day=2024-01-03"]
    back = ws.datasets.read("p")
    assert list(back.columns) == ["id", "day", "amount", "label"]
    expected = frame(9).sort_values(["day", "id"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(back.sort_values(["day", "id"]).reset_index(drop=True), expected)
    assert ws.datasets.read("p", columns=["label", "day"]).columns.tolist() == ["label", "day"]


def test_append_and_upsert_make_new_versions(any_ws: Workspace) -> None:
    ws = any_ws  # plain and with encryption at rest
    ws.datasets.create("a", frame(3))
    appended = ws.datasets.create("a", frame(2, offset=3), mode="append")
    assert appended.data["rows"] == 5 and appended.data["mode"] == "append"
    assert ws.datasets.read("a")["id"].tolist() == [0, 1, 2, 3, 4]
    changed = frame(2, offset=1).assign(label=["new1", "new2"])
    up = ws.datasets.commit("a", pa.Table.from_pandas(changed, preserve_index=False), mode="upsert", key=["id"])
    got = ws.datasets.read("a")
    assert up.data["rows"] == 5
    assert got["id"].tolist() == [0, 3, 4, 1, 2]
    assert [None if pd.isna(x) else x for x in got["label"]] == [None, None, "r1", "new1", "new2"]
    assert ws.datasets.read("a", 1)["id"].tolist() == [0, 1, 2]  # past versions unchanged
    edges = {(e.src, e.relation) for e in ws.metadata.list_edges(dst=up.ref)}
    assert ("dataset/a:2", "upserted-into") in edges


def test_schema_contradiction_is_an_error_and_writes_nothing(ws: Workspace) -> None:
    ws.datasets.create("s", frame(3))
    bad = frame(3).assign(id=["x", "y", "z"])
    with pytest.raises(ValidationError, match=r"column 'id' is int64; string values such as 'x'"):
        ws.datasets.create("s", bad, enforce_schema=True)
    with pytest.raises(ValidationError, match=r"has column\(s\) extra"):
        ws.datasets.create("s", frame(3).assign(extra=1), mode="append")
    with pytest.raises(ValidationError, match=r"lacks column\(s\) label"):
        ws.datasets.create("s", frame(3).drop(columns="label"), mode="append")
    assert [r.version for r in ws.datasets.versions("s")] == [1]
    # castable values are accepted and stored in the dataset's types
    ok = ws.datasets.create("s", frame(2).assign(id=["7", "8"]), enforce_schema=True)
    assert ws.datasets.read("s", ok.version)["id"].tolist() == [7, 8]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate column name"),
        (lambda: pd.DataFrame(index=range(3)), "no columns"),
    ],
)
def test_bad_frames(ws: Workspace, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        ws.datasets.create("bad", make())
    with pytest.raises(NotFoundError, match="dataset 'bad' does not exist"):
        ws.datasets.versions("bad")


def test_head_and_missing_versions(ws: Workspace) -> None:
    ws.datasets.create("h", frame(8))
    assert ws.datasets.head("h", n=3)["id"].tolist() == [0, 1, 2]
    assert len(ws.datasets.head("h", n=100)) == 8
    with pytest.raises(NotFoundError, match=r"dataset 'h' has no version 9 \(latest is 1\)"):
        ws.datasets.read("h", 9)
    with pytest.raises(ValidationError, match="no column"):
        ws.datasets.read("h", columns=["ghost"])


def test_diff_by_key_hand_computed(ws: Workspace) -> None:
    a = pd.DataFrame({"id": [1, 2, 3, 4], "v": [10, 20, 30, None], "w": ["a", "b", "c", "d"]})
    b = pd.DataFrame({"id": [2, 3, 4, 5], "v": [20, 31, None, 50], "x": [1, 1, 1, 1]})
    ws.datasets.create("d", a)
    ws.datasets.create("d", b)
    out = ws.datasets.diff("d", 1, key=["id"])
    assert out["schema"] == {"added": ["x"], "removed": ["w"], "type_changed": []}
    assert out["rows"] == {"a": 4, "b": 4, "added": 1, "removed": 1, "changed": 1}
    assert out["sample"] == {"added": [5], "removed": [1], "changed": [3]}
    multiset = ws.datasets.diff("d", 1, 2)
    # shared columns id, v: (2,20) and (4,None) are in both
    assert multiset["rows"] == {"a": 4, "b": 4, "only_in_a": 2, "only_in_b": 2, "in_both": 2}
    ws.datasets.create("d", pd.DataFrame({"id": [1, 1]}))
    with pytest.raises(ValidationError, match="not unique in version b"):
        ws.datasets.diff("d", 1, 3, key=["id"])


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["x", "y", None])), max_size=12),
    b=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["x", "y", None])), max_size=12),
)
def test_multiset_diff_matches_counter(a: list[tuple[int, str | None]], b: list[tuple[int, str | None]]) -> None:
    from collections import Counter

    schema = pa.schema([("k", pa.int64()), ("s", pa.string())])
    ta = pa.Table.from_pylist([{"k": k, "s": s} for k, s in a], schema=schema)
    tb = pa.Table.from_pylist([{"k": k, "s": s} for k, s in b], schema=schema)
    out = diff_tables(ta, tb)["rows"]
    ca, cb = Counter(a), Counter(b)
    assert out["only_in_a"] == sum((ca - cb).values())
    assert out["only_in_b"] == sum((cb - ca).values())


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=0, max_size=20), st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=0, max_size=20))
def test_content_hash_ignores_chunking_and_string_width(ints: list[int | None], texts: list[str | None]) -> None:
    n = min(len(ints), len(texts))
    ints, texts = ints[:n], texts[:n]
    one = pa.table({"i": pa.array(ints, pa.int64()), "t": pa.array(texts, pa.string())})
    split = pa.concat_tables([one.slice(0, n // 2), one.slice(n // 2)])
    wide = pa.table({"i": pa.array(ints, pa.int64()), "t": pa.array(texts, pa.large_string())})
    assert content_hash(one) == content_hash(split) == content_hash(wide)
    if n:
        changed = pa.table({"i": pa.array([*ints[:-1], 7 if ints[-1] != 7 else 8], pa.int64()), "t": one.column("t")})
        assert content_hash(changed) != content_hash(one)


def test_concurrent_appends_lose_no_rows(ws: Workspace) -> None:
    import threading

    ws.datasets.create("c", pd.DataFrame({"id": [0]}))
    errors: list[BaseException] = []

    def writer(start: int) -> None:
        try:
            for i in range(3):
                ws.datasets.create("c", pd.DataFrame({"id": [start + i]}), mode="append")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(100 * t,)) for t in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    versions = ws.datasets.versions("c")
    assert [r.version for r in versions] == list(range(13, 0, -1))
    assert sorted(ws.datasets.read("c")["id"]) == sorted([0] + [100 * t + i for t in range(1, 5) for i in range(3)])
    assert [r.data["rows"] for r in sorted(versions, key=lambda r: r.version)] == list(range(1, 14))
