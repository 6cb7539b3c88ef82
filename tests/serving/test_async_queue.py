"""The async-queue contract, run against SQLite and the real Redis server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.errors import ValidationError
from forgeml.serving._async_queue import AsyncQueue, open_queue
from forgeml.serving._async_redis import RedisQueue
from forgeml.serving._async_sqlite import SqliteQueue
from forgeml.settings import Settings
from forgeml.testing.queue_contract import *  # noqa: F403
from forgeml.testing.queue_contract import EP


@pytest.fixture(params=["sqlite", "redis"])
def async_queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AsyncQueue]:
    if request.param == "sqlite":
        queue: AsyncQueue = SqliteQueue(tmp_path / "queue.db")
        yield queue
        queue.close()
    else:
        queue = RedisQueue(request.getfixturevalue("redis_url"), prefix=f"test:{uuid.uuid4().hex}:")
        yield queue
        for endpoint in (EP, "other"):
            queue.drop(endpoint)
        queue.close()


def test_open_queue_follows_the_setting(settings: Settings, redis_url: str) -> None:
    sqlite = open_queue(settings)
    assert isinstance(sqlite, SqliteQueue) and sqlite.path == settings.resolved_home / "async" / "queue.db"
    sqlite.close()
    redis = open_queue(settings.model_copy(update={"queue_url": redis_url}))
    assert isinstance(redis, RedisQueue)
    redis.close()
    with pytest.raises(ValidationError, match="unknown queue_url 'kafka://x'"):
        open_queue(settings.model_copy(update={"queue_url": "kafka://x"}))
