"""The metadata-store contract, run against SQLite and the real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.core.metadata import SqlMetadataStore
from forgeml.testing.metadata_contract import *  # noqa: F403
from forgeml.testing.services import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    if request.param == "sqlite":
        s = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
        yield s
        s.close()
    else:
        with fresh_postgres_database() as url:
            s = SqlMetadataStore(url)
            yield s
            s.close()
