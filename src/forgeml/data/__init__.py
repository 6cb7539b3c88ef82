"""Data: ingestion, versioned datasets, profiling, validation, PII, recipes, splits."""

from forgeml.data._archive import export_dataset, import_dataset
from forgeml.data._buffer import RecordBuffer
from forgeml.data._datasets import DatasetService, quarantine_name
from forgeml.data._diff import diff_tables
from forgeml.data._ingest import read_source
from forgeml.data._sql import is_sql_url
from forgeml.data._stream import NatsSource, RedisSource, StreamSource
from forgeml.data._tables import content_hash

__all__ = [
    "DatasetService",
    "NatsSource",
    "RecordBuffer",
    "RedisSource",
    "StreamSource",
    "content_hash",
    "diff_tables",
    "export_dataset",
    "import_dataset",
    "is_sql_url",
    "quarantine_name",
    "read_source",
]
