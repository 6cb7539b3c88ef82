"""Fixtures shared by every test: an isolated workspace and real service URLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.settings import Settings, load_settings
from forgeml.testing.services import REDIS_URL, fresh_postgres_database


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of an empty workspace under ``tmp_path`` (also exported as FORGEML_HOME)."""
    home = tmp_path / "ws"
    monkeypatch.setenv("FORGEML_HOME", str(home))
    for var in ("FORGEML_DATABASE_URL", "FORGEML_ARTIFACT_URI", "FORGEML_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return load_settings(home=str(home), job_stop_grace_seconds=2.0, job_poll_seconds=0.1)


@pytest.fixture
def ws(settings: Settings) -> Iterator[Workspace]:
    """A fresh embedded workspace (SQLite + local artifacts)."""
    workspace = Workspace(settings)
    yield workspace
    workspace.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty database on the real PostgreSQL server."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    """URL of the real Redis server (tests must use unique key prefixes)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    client.close()
    return REDIS_URL


@pytest.fixture(params=["plain", "encrypted"])
def any_ws(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Workspace]:
    """The ``ws`` workspace, once as is and once with ``encryption_at_rest`` on (key file in
    the workspace's secrets folder): for the key tests of every store that seals data."""
    if request.param == "encrypted":
        settings = settings.model_copy(update={"encryption_at_rest": True})
    workspace = Workspace(settings)
    yield workspace
    workspace.close()
