"""Resolve what users pass as data and models: frames, dataset names, files, package folders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.workspace import Workspace
    from forgeml.registry.package import LoadedModel


def resolve_frame(ws: Workspace, data: Any) -> tuple[pd.DataFrame, str | None]:
    """A frame and its lineage reference from a frame, a dataset record, ``name[:version]``,
    ``dataset/name:version`` or a CSV/Parquet path.

    Raises:
        NotFoundError: no such dataset or file.
        ValidationError: an unreadable spec.
    """
    import pandas as pd

    from forgeml.core.records import ResourceRecord

    if isinstance(data, pd.DataFrame):
        return data, None
    if isinstance(data, ResourceRecord):
        return ws.datasets.read(data.name, data.version), data.ref
    if not isinstance(data, str | Path) or not str(data):
        raise ValidationError(f"cannot read data from {type(data).__name__}")
    text = str(data)
    path = Path(text)
    maybe_file = ws.access.check_data(text, "dataset")  # a network caller's file must be in an allowed data root
    if maybe_file and (path.suffix.lower() in (".csv", ".parquet", ".pq") or path.is_file()):
        if not path.is_file():
            raise NotFoundError(f"data file {text} does not exist")
        return (pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)), None
    name = text.removeprefix("dataset/")
    base, _, version = name.partition(":")
    if version and not version.isdigit():
        raise ValidationError(f"invalid dataset version in {text!r}")
    record = ws.datasets.get(base, int(version) if version else None)
    return ws.datasets.read(record.name, record.version), record.ref


def resolve_model(ws: Workspace, model: Any) -> tuple[LoadedModel, str | None]:
    """A loaded package and its lineage reference (``artifact/<digest>`` of the folder).

    Accepts a :class:`LoadedModel` or the package folder. The folder is put into the artifact
    store (content-addressed, so a package stored before is not copied again).

    Raises:
        NotFoundError: the folder is not a model package.
    """
    from forgeml.registry.package import LoadedModel, load_model

    if isinstance(model, LoadedModel):
        path = model.path
        loaded = model
    else:
        path = Path(str(model))
        if not ws.access.check_model(str(model), "model_dir") or not path.is_dir():
            raise NotFoundError(f"model package folder {path} does not exist")
        loaded = load_model(path)
    art = ws.artifacts.put_dir(path)
    return loaded, f"artifact/{art.digest}"


__all__ = ["resolve_frame", "resolve_model"]
