"""Data: ingestion, versioned datasets, profiling, validation, PII, recipes, splits."""

from forgeml.data._datasets import DatasetService

__all__ = ["DatasetService"]
