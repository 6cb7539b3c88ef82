"""Resolve "some rows" given as a frame, a dataset reference or a local file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.workspace import Workspace


def parse_dataset_ref(ref: str) -> tuple[str, int | None]:
    """``dataset/loans:3``, ``loans:3`` or ``loans`` -> ``("loans", 3 | None)``.

    Raises:
        ValidationError: a version that is not an integer.
    """
    text = ref.removeprefix("dataset/")
    name, _, version = text.partition(":")
    if version and not version.isdigit():
        raise ValidationError(f"invalid dataset version {version!r} in {ref!r}")
    return name, int(version) if version else None


def read_rows(ws: Workspace, rows: Any) -> pd.DataFrame:
    """A frame from a frame, a ``.csv``/``.parquet`` file, or a dataset reference.

    Raises:
        NotFoundError: no such file or dataset.
        ValidationError: a file type that is not understood.
    """
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        return rows
    if not isinstance(rows, (str, Path)):
        raise ValidationError(f"expected a frame, a file or a dataset reference, got {type(rows).__name__}")
    path = Path(rows)
    if ws.access.check_data(str(rows), "holdout") and path.is_file():  # a network caller's file must be in an allowed data root
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
        raise ValidationError(f"{path}: expected a .csv or .parquet file")
    text = str(rows)
    if text.startswith("dataset/") or ("/" not in text and path.suffix not in (".csv", ".parquet")):
        name, version = parse_dataset_ref(text)
        return ws.datasets.read(name, version)
    raise NotFoundError(f"file {rows} does not exist")


__all__ = ["parse_dataset_ref", "read_rows"]
