"""Migrations: the fast head check agrees with Alembic, and a fresh store ends at every head."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from forgeml.core.metadata import SqlMetadataStore
from forgeml.core.metadata._sql import _MIGRATIONS, script_heads


def test_text_heads_match_alembic() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    assert script_heads() == set(ScriptDirectory.from_config(cfg).get_heads())


def test_fresh_store_is_at_every_head_and_reopens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    SqlMetadataStore(url).close()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        versions = {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
    engine.dispose()
    assert versions == script_heads()
    SqlMetadataStore(url).close()  # the up-to-date path
