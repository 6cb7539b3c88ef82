"""Data: ingestion, versioned datasets, profiling, validation, PII, recipes, splits."""

from forgeml.data._archive import export_dataset, import_dataset
from forgeml.data._buffer import RecordBuffer
from forgeml.data._datasets import DatasetService, quarantine_name
from forgeml.data._diff import diff_tables
from forgeml.data._drift import infer_schema, schema_drift, suggest_rules
from forgeml.data._ingest import read_source
from forgeml.data._pii import protect as protect_pii
from forgeml.data._pii import scan as scan_pii
from forgeml.data._prep_service import DataPrepService
from forgeml.data._profile import profile
from forgeml.data._profile_html import render_html as profile_html
from forgeml.data._rules import load_rules, parse_dqdl
from forgeml.data._split import class_weights, kfold, rebalance, split
from forgeml.data._sql import is_sql_url
from forgeml.data._stream import NatsSource, RedisSource, StreamSource
from forgeml.data._tables import content_hash
from forgeml.data._validation import validate
from forgeml.data.recipes import FittedRecipe, Recipe

__all__ = [
    "DataPrepService",
    "DatasetService",
    "FittedRecipe",
    "NatsSource",
    "Recipe",
    "RecordBuffer",
    "RedisSource",
    "StreamSource",
    "class_weights",
    "content_hash",
    "diff_tables",
    "export_dataset",
    "import_dataset",
    "infer_schema",
    "is_sql_url",
    "kfold",
    "load_rules",
    "parse_dqdl",
    "profile",
    "profile_html",
    "protect_pii",
    "quarantine_name",
    "read_source",
    "rebalance",
    "scan_pii",
    "schema_drift",
    "split",
    "suggest_rules",
    "validate",
]
