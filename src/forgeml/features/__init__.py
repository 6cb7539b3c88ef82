"""Feature store: feature groups, offline store (Parquet + DuckDB), online store (SQLite | Redis),
point-in-time training sets, materialization and streaming ingestion (SageMaker semantics)."""

from forgeml.features._definitions import (
    FEATURE_TYPES,
    FeatureDefinition,
    FeatureGroup,
    infer_definitions,
    parse_ttl,
)
from forgeml.features._online import OnlineOp, OnlineRecord, OnlineStore, make_online_store
from forgeml.features._online_redis import RedisOnlineStore
from forgeml.features._online_sqlite import SqliteOnlineStore
from forgeml.features._queries import TrainingSet
from forgeml.features._service import FeatureStoreService, IngestResult
from forgeml.features._stream import FeatureStream

__all__ = [
    "FEATURE_TYPES",
    "FeatureDefinition",
    "FeatureGroup",
    "FeatureStoreService",
    "FeatureStream",
    "IngestResult",
    "OnlineOp",
    "OnlineRecord",
    "OnlineStore",
    "RedisOnlineStore",
    "SqliteOnlineStore",
    "TrainingSet",
    "infer_definitions",
    "make_online_store",
    "parse_ttl",
]
