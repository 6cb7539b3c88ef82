"""Resolve "some rows" given as a frame, a dataset reference or a local file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.workspace import Workspace


def read_rows(ws: Workspace, rows: Any, field: str = "rows") -> pd.DataFrame:
    """A frame from a frame, a ``.csv``/``.parquet`` file, or a dataset reference; see
    :func:`forgeml.data._inputs.rows_from`.

    Raises:
        ForbiddenError: a file the caller may not read (``field`` names it in the message).
        NotFoundError: no such file or dataset.
        ValidationError: a file type that is not understood, or a malformed reference.
    """
    from forgeml.data._inputs import rows_from

    return rows_from(ws, rows, field=field)[0]


__all__ = ["read_rows"]
