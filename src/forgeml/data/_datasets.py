"""Versioned datasets: immutable Parquet versions in the artifact store, with schema and lineage."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import validate_name
from forgeml.core.records import ResourceRecord
from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.workspace import Workspace

KIND = "dataset"


def schema_of(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Column names and pandas dtypes, in order."""
    return [{"name": str(c), "type": str(t)} for c, t in frame.dtypes.items()]


class DatasetService:
    """Create, read and list dataset versions."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def create(
        self,
        name: str,
        frame: pd.DataFrame,
        *,
        description: str | None = None,
        source: str | None = None,
        tags: dict[str, str] | None = None,
        derived_from: list[str] | None = None,
    ) -> ResourceRecord:
        """Store ``frame`` as the next version of dataset ``name``.

        Raises:
            ValidationError: bad name, empty frame or duplicate column names.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        validate_name(name, "dataset name")
        if frame.columns.duplicated().any():
            dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise ValidationError(f"dataset {name!r}: duplicate column name(s) {', '.join(dupes)}")
        if len(frame.columns) == 0:
            raise ValidationError(f"dataset {name!r}: no columns")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "data.parquet"
            pq.write_table(table, path)
            art = self.ws.artifacts.put_file(path, media_type="application/vnd.apache.parquet")
        record = self.ws.metadata.create_resource(
            ResourceRecord(
                kind=KIND, name=name, status="Available",
                spec={"description": description, "source": source},
                data={"artifact": art.digest, "rows": len(frame), "schema": schema_of(frame), "bytes": art.size},
                tags=tags or {},
            ),
            next_version=True,
        )  # fmt: skip
        self.ws.metadata.put_artifact(art, owner=record.ref)
        self.ws.lineage.record(f"artifact/{art.digest}", record.ref, "stored-as")
        for ref in derived_from or ():
            self.ws.lineage.record(ref, record.ref, "derived")
        return record

    def get(self, name: str, version: int | None = None) -> ResourceRecord:
        return self.ws.metadata.get_resource(KIND, name, version)

    def list(self) -> list[ResourceRecord]:
        return self.ws.metadata.list_resources(KIND, latest_only=True)

    def versions(self, name: str) -> list[ResourceRecord]:
        found = self.ws.metadata.list_resources(KIND, name=name)
        if not found:
            raise NotFoundError(f"dataset {name!r} does not exist")
        return found

    def local_path(self, name: str, version: int | None = None) -> Path:
        """A local Parquet file of that version (verified copy under the workspace cache)."""
        record = self.get(name, version)
        digest = record.data["artifact"]
        cache = self.ws.home / "cache" / "datasets" / f"{digest}.parquet"
        if not cache.exists():
            self.ws.artifacts.get_file(digest, cache)
        return cache

    def read(self, name: str, version: int | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """The rows of one version as a pandas frame."""
        import pyarrow.parquet as pq

        return pq.read_table(self.local_path(name, version), columns=columns).to_pandas()

    def describe(self, name: str, version: int | None = None) -> dict[str, Any]:
        return self.get(name, version).to_dict()
