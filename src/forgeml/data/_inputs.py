"""Rows given as a frame, a dataset reference or a local CSV/Parquet file: one resolver.

Every service that reads "some rows" (evaluation, clarify, compile hold-outs, batch transform)
calls :func:`rows_from`. A string is a dataset reference (``loans``, ``loans:3``, ``loans@latest``,
``dataset/loans:3``) unless it reads as a path (``./rows.csv``, ``/data/x.parquet``, anything with a
``/`` that does not start with a kind, or a ``.csv`` / ``.parquet`` name); see
:func:`forgeml.core.refs.looks_like_path`.

This is the one place rows are read from a local file, so the file is checked here: by the
caller's access policy (``ws.access.check_source``: over the network only inside an allowed data
root; a reference is never looked up on disk) and against the workspace's own files
(:mod:`forgeml.core.workspace_guard`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.workspace import Workspace

TABULAR = (".csv", ".parquet", ".pq")


def rows_from(ws: Workspace, data: Any, *, field: str = "data") -> tuple[pd.DataFrame, str | None]:
    """A frame and its lineage reference (``dataset/NAME:VERSION``, or None for a frame or file).

    Args:
        ws: the workspace (its ``access`` decides whether the caller may read a local file).
        data: a frame, a dataset record or reference, or a CSV/Parquet path.
        field: what to call ``data`` in a refusal (the request field, e.g. ``holdout``).

    Raises:
        ForbiddenError: a file the caller may not read (over the network, outside the allowed
            data roots), or one of the workspace's own files.
        ValidationError: a malformed reference, a reference to another kind, or a file that is
            neither CSV nor Parquet.
        NotFoundError: no such dataset, version or file.
    """
    import pandas as pd

    from forgeml.core.records import ResourceRecord
    from forgeml.core.refs import looks_like_path

    if isinstance(data, pd.DataFrame):
        return data, None
    if isinstance(data, ResourceRecord) or (isinstance(data, str) and data and not looks_like_path(data, TABULAR)):
        record = ws.datasets.get(data)
        return ws.datasets.read(record), record.ref
    if not isinstance(data, str | Path) or not str(data):
        raise ValidationError(f"expected a frame, a dataset reference or a .csv/.parquet file, got {type(data).__name__}")
    from forgeml.core.workspace_guard import check_path

    ws.access.check_source(data, field)  # before the disk is looked at
    path = Path(data).expanduser()
    check_path(path, ws.settings)  # the workspace's own files are never data (SQLite's locks)
    if not path.is_file():
        raise NotFoundError(f"data file {data} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path), None
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path), None
    raise ValidationError(f"{path}: expected a .csv or .parquet file")


__all__ = ["TABULAR", "rows_from"]
