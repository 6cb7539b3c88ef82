"""The online-store contract, run against SQLite and the real Redis server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.features import OnlineStore, RedisOnlineStore, SqliteOnlineStore
from forgeml.testing.online_store_contract import *  # noqa: F403


@pytest.fixture(params=["sqlite", "redis"])
def online_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        store: OnlineStore = SqliteOnlineStore(tmp_path / "online.db")
        yield store
        store.close()
    else:
        url = request.getfixturevalue("redis_url")
        store = RedisOnlineStore(url, prefix=f"test:{uuid.uuid4().hex}:")
        yield store
        for group in ("contract-g", "g1", "g2", "other"):
            store.drop_group(group)
        store.close()
