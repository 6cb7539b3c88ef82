"""Resolve what users pass as data and models: frames, dataset references, files, registry
references and package folders (one resolver each: :func:`forgeml.data._inputs.rows_from`,
:meth:`forgeml.registry.RegistryService.package`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.workspace import Workspace
    from forgeml.registry.package import LoadedModel


def resolve_frame(ws: Workspace, data: Any, field: str = "dataset") -> tuple[pd.DataFrame, str | None]:
    """A frame and its lineage reference from a frame, a dataset record or reference
    (``loans``, ``loans:3``, ``dataset/loans:3``) or a CSV/Parquet path.

    Raises:
        ForbiddenError: a file the caller may not read (see ``rows_from``).
        NotFoundError: no such dataset or file.
        ValidationError: an unreadable spec.
    """
    from forgeml.data._inputs import rows_from

    return rows_from(ws, data, field=field)


def resolve_model(ws: Workspace, model: Any, field: str = "model") -> tuple[LoadedModel, str, str | None]:
    """A loaded package, its lineage reference (``artifact/<digest>`` of the package folder) and,
    for a registered model, its registry reference (``model/loans:2``).

    Accepts a :class:`LoadedModel`, a registry reference (``loans``, ``loans:2``,
    ``loans@champion``, ``model/loans:2``) or a package folder. A folder is put into the artifact
    store (content-addressed, so a package stored before is not copied again); a registered
    version is loaded through the registry, every file checked against its recorded digests.

    Raises:
        ForbiddenError: a folder the caller may not load (see ``ws.registry.package``).
        CorruptArtifactError: a registered package's file was changed after registration.
        NotFoundError: no such folder, group, version or alias.
        ValidationError: a folder that is not a model package, or a malformed reference.
    """
    from forgeml.registry.package import LoadedModel, load_model

    if isinstance(model, LoadedModel):
        return model, f"artifact/{ws.artifacts.put_dir(model.path).digest}", None
    folder, record = ws.registry.package(model, field=field)
    if record is not None:  # every file checked against the registry's digests as it loads
        return ws.registry.load(record), f"artifact/{record.spec['package']}", record.ref
    return load_model(folder), f"artifact/{ws.artifacts.put_dir(folder).digest}", None


__all__ = ["resolve_frame", "resolve_model"]
