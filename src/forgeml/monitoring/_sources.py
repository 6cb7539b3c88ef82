"""Where monitored rows come from, resolved when a job is submitted and read in batches by it.

A source is a small JSON-able dict stored in the job's config:

* ``{"kind": "dataset", "ref": "dataset/loans:3"}``: a stored version, read Parquet batch by batch.
* ``{"kind": "file", "path": "/abs/rows.csv"}``: a local CSV (read as text, in chunks; values are
  typed as Deequ types them) or Parquet file. SDK and CLI only: over REST a path is refused.
* ``{"kind": "capture", "endpoint": "ep", "root": "...", "start": iso|None, "end": iso|None,
  "variant": name|None}``: an endpoint's capture files of whole hours in ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.monitoring._capture_read import CaptureReader

BATCH_ROWS = 65_536
TABULAR = (".csv", ".parquet", ".pq")


def parse_time(value: Any, field: str) -> datetime | None:
    """An ISO-8601 time (UTC when it names no zone), truncated to the hour.

    Raises:
        ValidationError: naming ``field`` and the bad value.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{field}: {value!r} is not an ISO-8601 time such as 2026-12-07T05:00:00Z") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(minute=0, second=0, microsecond=0)


def resolve(ws: Workspace, *, data: Any = None, endpoint: str | None = None, start: Any = None, end: Any = None,
            variant: str | None = None, workdir: Path | None = None) -> tuple[dict[str, Any], str | None]:  # fmt: skip
    """A source dict and its lineage reference, checked now (so a bad input never becomes a job).

    Args:
        data: a frame (written to ``workdir/input.parquet``), a dataset reference or a local
            CSV/Parquet path.
        endpoint: an endpoint whose captured traffic to read instead of ``data``.

    Raises:
        ValidationError: neither or both of ``data`` and ``endpoint``, a bad time or window.
        NotFoundError: no such dataset, file or endpoint.
        ForbiddenError: a path the caller may not read (over the network every path).
    """
    from forgeml.core.refs import looks_like_path

    if (data is None) == (endpoint is None):
        raise ValidationError("give exactly one of data (a dataset reference or a file) and endpoint (captured traffic)")
    if endpoint is not None:
        record = ws.endpoints.get(endpoint)
        s, e = parse_time(start, "start_time"), parse_time(end, "end_time")
        if s and e and s >= e:
            raise ValidationError(f"start_time {s.isoformat()} must be before end_time {e.isoformat()}")
        root = ws.endpoints.capture_dir(record.name)
        return {"kind": "capture", "endpoint": record.name, "root": str(root), "start": s.isoformat() if s else None,
                "end": e.isoformat() if e else None, "variant": variant}, f"endpoint/{record.name}"  # fmt: skip
    if isinstance(data, pd.DataFrame):
        if workdir is None:
            raise ValidationError("a frame needs a job folder to be written to")
        target = workdir / "input.parquet"
        data.to_parquet(target, index=False)
        return {"kind": "file", "path": str(target)}, None
    if isinstance(data, str | Path) and looks_like_path(str(data), TABULAR):
        from forgeml.core.workspace_guard import check_path

        ws.access.check_source(data, "data")
        path = Path(data).expanduser()
        check_path(path, ws.settings)
        if not path.is_file():
            raise NotFoundError(f"data file {data} does not exist")
        if path.suffix.lower() not in TABULAR:
            raise ValidationError(f"{path}: expected a .csv or .parquet file")
        return {"kind": "file", "path": str(path.resolve())}, None
    record = ws.datasets.get(data)
    return {"kind": "dataset", "ref": record.ref}, record.ref


def _file_batches(path: Path) -> Iterator[pd.DataFrame]:
    if path.suffix.lower() == ".csv":
        with pd.read_csv(path, dtype=str, chunksize=BATCH_ROWS) as chunks:
            yield from chunks
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        yield batch.to_pandas()


def _dataset_batches(ws: Workspace, ref: str) -> Iterator[pd.DataFrame]:
    import pyarrow.dataset as ds

    record = ws.datasets.get(ref)
    path = ws.datasets.local_path(record)
    if record.data.get("layout") == "hive":
        dataset = ds.dataset(str(path), format="parquet", partitioning="hive")
    else:
        dataset = ds.dataset(str(path), format="parquet")
    for batch in dataset.to_batches(batch_size=BATCH_ROWS):
        yield batch.to_pandas()


def batches(ws: Workspace, source: dict[str, Any], reader: CaptureReader | None = None,
            columns: Sequence[str] = ()) -> Iterator[pd.DataFrame]:  # fmt: skip
    """The source's rows, batch by batch (capture sources count what they skip in ``reader``)."""
    kind = source["kind"]
    if kind == "dataset":
        yield from _dataset_batches(ws, source["ref"])
    elif kind == "file":
        yield from _file_batches(Path(source["path"]))
    elif kind == "capture":
        from forgeml.monitoring._capture_read import CaptureReader, capture_files

        reader = reader or CaptureReader(columns, ws.artifacts.envelope)
        files = capture_files(Path(source["root"]), parse_time(source.get("start"), "start_time"),
                              parse_time(source.get("end"), "end_time"), source.get("variant"))  # fmt: skip
        yield from reader.read(files)
    else:
        raise ValidationError(f"unknown source kind {kind!r}")


__all__ = ["batches", "parse_time", "resolve"]
