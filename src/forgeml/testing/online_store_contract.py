"""Contract suite every :class:`~forgeml.features.OnlineStore` must pass.

Use it from a test module that defines an ``online_store`` fixture yielding a fresh, empty store
(unique key prefix or file)::

    from forgeml.testing.online_store_contract import *  # noqa: F403

    @pytest.fixture(params=["sqlite", "redis"])
    def online_store(request): ...
"""

from __future__ import annotations

import json

import pytest

from forgeml.errors import ValidationError
from forgeml.features import OnlineOp, OnlineStore

__all__ = [
    "test_batch_is_all_or_nothing",
    "test_get_many_keeps_order_and_gaps",
    "test_groups_are_separate",
    "test_hard_delete_removes_only_when_newer",
    "test_newer_event_time_rule",
    "test_purge_expired",
    "test_scan_and_drop_group",
    "test_soft_delete_tombstone_blocks_older_puts",
    "test_sync_replaces_on_equal_event_time",
    "test_ttl_visibility",
]

G = "contract-g"


def put(rid: str, t: int, value: object, expires: int | None = None, kind: str = "put") -> OnlineOp:
    return OnlineOp(kind, rid, t, expires, json.dumps({"id": rid, "v": value}))


def test_newer_event_time_rule(online_store: OnlineStore) -> None:
    assert online_store.get(G, "a") is None
    assert online_store.apply(G, [put("a", 100, 1)]) == 1
    # equal and older event times are historic: the online record stays
    assert online_store.apply(G, [put("a", 100, 2), put("a", 50, 3)]) == 0
    assert online_store.get(G, "a").values() == {"id": "a", "v": 1}  # type: ignore[union-attr]
    assert online_store.apply(G, [put("a", 101, 4)]) == 1
    got = online_store.get(G, "a")
    assert got is not None and got.event_time_us == 101 and got.values()["v"] == 4 and not got.deleted
    # within one batch, ops apply in order: the first of the greatest event times wins
    online_store.apply(G, [put("b", 5, "x"), put("b", 9, "y"), put("b", 9, "z"), put("b", 7, "w")])
    assert online_store.get(G, "b").values()["v"] == "y"  # type: ignore[union-attr]


def test_sync_replaces_on_equal_event_time(online_store: OnlineStore) -> None:
    online_store.apply(G, [put("a", 10, 1)])
    assert online_store.apply(G, [put("a", 10, 2, kind="sync")]) == 1
    assert online_store.get(G, "a").values()["v"] == 2  # type: ignore[union-attr]
    assert online_store.apply(G, [put("a", 9, 3, kind="sync")]) == 0
    assert online_store.get(G, "a").values()["v"] == 2  # type: ignore[union-attr]


def test_soft_delete_tombstone_blocks_older_puts(online_store: OnlineStore) -> None:
    online_store.apply(G, [put("a", 10, 1)])
    # a delete that is not later than the stored record leaves it in place
    assert online_store.apply(G, [OnlineOp("soft_delete", "a", 10)]) == 0
    assert online_store.get(G, "a").visible(0)  # type: ignore[union-attr]
    assert online_store.apply(G, [OnlineOp("soft_delete", "a", 20)]) == 1
    got = online_store.get(G, "a")
    assert got is not None and got.deleted and got.event_time_us == 20 and got.values() == {} and not got.visible(0)
    assert online_store.apply(G, [put("a", 15, 2)]) == 0
    assert online_store.get(G, "a").deleted  # type: ignore[union-attr]
    assert online_store.apply(G, [put("a", 21, 3)]) == 1
    assert online_store.get(G, "a").visible(0)  # type: ignore[union-attr]
    # deleting an id never seen leaves a tombstone too
    online_store.apply(G, [OnlineOp("soft_delete", "new", 30), put("new", 29, 0)])
    assert online_store.get(G, "new").deleted  # type: ignore[union-attr]


def test_hard_delete_removes_only_when_newer(online_store: OnlineStore) -> None:
    online_store.apply(G, [put("a", 10, 1)])
    assert online_store.apply(G, [OnlineOp("hard_delete", "a", 10)]) == 0
    assert online_store.get(G, "a") is not None
    assert online_store.apply(G, [OnlineOp("hard_delete", "a", 11)]) == 1
    assert online_store.get(G, "a") is None
    # after a hard delete nothing remembers the record: an older put comes back
    assert online_store.apply(G, [put("a", 5, 2)]) == 1
    assert online_store.apply(G, [OnlineOp("hard_delete", "zzz", 11)]) == 0


def test_ttl_visibility(online_store: OnlineStore) -> None:
    online_store.apply(G, [put("a", 10, 1, expires=1_000), put("b", 10, 2)])
    a = online_store.get(G, "a")
    assert a is not None and a.expires_at_us == 1_000
    assert a.visible(999) and not a.visible(1_000)
    b = online_store.get(G, "b")
    assert b is not None and b.expires_at_us is None and b.visible(10**18)


def test_purge_expired(online_store: OnlineStore) -> None:
    online_store.apply(G, [put("a", 10, 1, expires=100), put("b", 10, 2, expires=10_000), put("c", 10, 3),
                           OnlineOp("soft_delete", "d", 5)])  # fmt: skip
    assert online_store.purge_expired(G, 500) == 1
    assert online_store.get(G, "a") is None
    assert {r.record_id for r in online_store.scan(G)} == {"b", "c", "d"}


def test_batch_is_all_or_nothing(online_store: OnlineStore) -> None:
    online_store.apply(G, [put("a", 1, 1)])
    with pytest.raises(ValidationError):
        online_store.apply(G, [put("a", 2, 2), OnlineOp("explode", "b", 1)])
    assert online_store.get(G, "a").values()["v"] == 1  # type: ignore[union-attr]
    assert online_store.get(G, "b") is None


def test_get_many_keeps_order_and_gaps(online_store: OnlineStore) -> None:
    online_store.apply(G, [put(str(i), i + 1, i) for i in range(1200)])
    ids = ["5", "missing", "1199", "5", "0"]
    got = online_store.get_many(G, ids)
    assert [None if r is None else r.values()["v"] for r in got] == [5, None, 1199, 5, 0]
    assert online_store.get_many(G, []) == []


def test_groups_are_separate(online_store: OnlineStore) -> None:
    online_store.apply("g1", [put("a", 1, "one")])
    online_store.apply("g2", [put("a", 1, "two")])
    assert online_store.get("g1", "a").values()["v"] == "one"  # type: ignore[union-attr]
    assert online_store.get("g2", "a").values()["v"] == "two"  # type: ignore[union-attr]


def test_scan_and_drop_group(online_store: OnlineStore) -> None:
    online_store.apply(G, [put(f"r{i}", 1, i) for i in range(10)] + [OnlineOp("soft_delete", "r3", 2)])
    online_store.apply("other", [put("x", 1, 0)])
    records = {r.record_id: r for r in online_store.scan(G)}
    assert len(records) == 10 and records["r3"].deleted and not records["r4"].deleted
    assert online_store.drop_group(G) == 10
    assert list(online_store.scan(G)) == [] and online_store.get(G, "r1") is None
    assert online_store.get("other", "x") is not None
