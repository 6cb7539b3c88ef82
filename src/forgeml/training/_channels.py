"""Input channels: named data sources resolved before launch and downloaded inside the job.

A channel's source is a dataset reference (``loans``, ``loans:3``, ``dataset/loans:3``: a versioned
dataset, also what the feature store's point-in-time training sets are saved as) or a local file or
folder of Parquet/CSV files (``./data``, ``/data/train.csv``).
Dataset versions are pinned when the job is created, so a job always reads what it was given.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.workspace import Workspace

_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
TABULAR = (".parquet", ".pq", ".csv")
CONTENT_TYPES = {"parquet": "application/x-parquet", "csv": "text/csv"}


def resolve_channels(ws: Workspace, channels: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Check every channel and pin its source.

    Returns:
        channel name -> ``{"type": "dataset", "ref", "name", "version", "digest", "schema"}`` or
        ``{"type": "path", "path", "schema"}`` (``schema`` may be None for non-tabular folders).

    Raises:
        ValidationError: a bad channel name or source.
        NotFoundError: a dataset or path that does not exist.
    """
    if not isinstance(channels, dict) or not channels:
        raise ValidationError("channels must map at least one channel name to a source, e.g. {'train': 'dataset/loans'}")
    out: dict[str, dict[str, Any]] = {}
    for name, source in channels.items():
        if not isinstance(name, str) or not _CHANNEL.match(name):
            raise ValidationError(f"invalid channel name {name!r}: use letters, digits, '_' or '-'")
        content_type = None
        if isinstance(source, dict):
            content_type = source.get("content_type")
            source = source.get("source")
        if not isinstance(source, str) or not source:
            raise ValidationError(f"channel {name!r}: source must be a dataset reference (dataset/NAME[:VERSION]) or a path, got {source!r}")
        if content_type is not None and content_type not in CONTENT_TYPES.values():
            raise ValidationError(f"channel {name!r}: content_type must be one of {', '.join(CONTENT_TYPES.values())}")
        out[name] = _resolve(ws, name, source)
        out[name]["content_type"] = content_type or CONTENT_TYPES["parquet"]
    return out


def _resolve(ws: Workspace, channel: str, source: str) -> dict[str, Any]:
    """A channel source: a dataset reference (``loans``, ``loans:3``, ``dataset/loans:3``) unless
    it reads as a path (``./data``, ``/data/train.csv``; see ``forgeml.core.refs.looks_like_path``)."""
    from forgeml.core.refs import looks_like_path

    if not looks_like_path(source, TABULAR):
        try:
            record = ws.datasets.get(source)
        except (NotFoundError, ValidationError) as exc:
            raise type(exc)(f"channel {channel!r}: {exc.message}") from None
        return {
            "type": "dataset", "ref": record.ref, "name": record.name, "version": record.version,
            "digest": record.data.get("artifact"), "schema": record.data.get("schema"),
        }  # fmt: skip
    ws.access.check_source(source, f"channels.{channel}")  # a network caller's path must be in an allowed data root
    path = Path(source).expanduser()
    from forgeml.core.workspace_guard import check_path

    check_path(path, ws.settings, f"channel {channel!r}:")
    if not path.exists():
        raise NotFoundError(f"channel {channel!r}: path {source!r} does not exist")
    path = path.resolve()
    return {"type": "path", "path": str(path), "schema": _path_schema(path)}


def tabular_files(path: Path) -> list[Path]:
    """The Parquet/CSV files of a channel folder (or the file itself), in name order."""
    if path.is_file():
        return [path] if path.suffix.lower() in TABULAR else []
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TABULAR)


def _path_schema(path: Path) -> list[dict[str, str]] | None:
    files = tabular_files(path)
    if not files:
        return None
    first = files[0]
    if first.suffix.lower() == ".csv":
        import pandas as pd

        head = pd.read_csv(first, nrows=50)
        return [{"name": str(c), "type": str(t)} for c, t in head.dtypes.items()]
    import pyarrow.parquet as pq

    schema = pq.read_schema(first)
    return [{"name": n, "type": str(t)} for n, t in zip(schema.names, schema.types, strict=True)]


def download(ws: Workspace, source: dict[str, Any], dest: Path) -> Path:
    """Copy a channel's data into ``dest`` (a folder), as SageMaker's File mode does."""
    dest.mkdir(parents=True, exist_ok=True)
    if source["type"] == "dataset":
        local = ws.datasets.local_path(source["name"], source["version"])
        if source.get("content_type") == CONTENT_TYPES["csv"]:
            import pyarrow.parquet as pq

            pq.read_table(local).to_pandas().to_csv(dest / f"{source['name']}.csv", index=False)
        else:
            shutil.copyfile(local, dest / f"{source['name']}.parquet")
        return dest
    path = Path(source["path"])
    if path.is_file():
        shutil.copyfile(path, dest / path.name)
    else:
        shutil.copytree(path, dest, dirs_exist_ok=True)
    return dest


def read_frame(folder: Path) -> pd.DataFrame:
    """Every Parquet/CSV file of a downloaded channel as one frame.

    Raises:
        ValidationError: when the channel holds no tabular file.
    """
    import pandas as pd

    files = tabular_files(folder)
    if not files:
        raise ValidationError(f"channel folder {folder} holds no .parquet or .csv file")
    frames = [pd.read_csv(f) if f.suffix.lower() == ".csv" else pd.read_parquet(f) for f in files]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


__all__ = ["CONTENT_TYPES", "download", "read_frame", "resolve_channels", "tabular_files"]
