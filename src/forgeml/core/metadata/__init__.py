"""Metadata store: the interface and its SQL implementation (SQLite, PostgreSQL)."""

from forgeml.core.metadata._base import RETIRED, MetadataStore
from forgeml.core.metadata._sql import SqlMetadataStore

__all__ = ["RETIRED", "MetadataStore", "SqlMetadataStore"]
