"""Where each variant's model comes from: a package folder or a registry version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError
from forgeml.serving._config import VariantConfig

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace


def resolve_variant(ws: Workspace, variant: VariantConfig, models_dir: Path, *, trusted: bool = True) -> dict[str, Any]:
    """A variant's runtime entry: its model as a local package folder, where it came from, and
    what each worker checks before it loads the package.

    ``variant.model`` is a model reference (``loans``, ``loans:2``, ``loans@champion``,
    ``model/loans:2``) or a package folder (``./pkg``); ``ws.registry.package`` decides which. A
    package folder is copied through the artifact store (so later changes to the folder do not
    reach a running endpoint); a registry reference is downloaded (verified) from the registry.
    Either way the entry carries ``digests``, ForgeML's sha256 of every file as stored, which the
    workers verify the package against on every (re)load, and ``trusted``: ``False`` loads only
    ONNX models. The package is checked here too, so a bad one is refused before anything starts.

    Raises:
        ValidationError: a folder that is not a package, or a malformed reference.
        NotFoundError: an unknown registry group, version or alias.
        ForbiddenError: ``trusted`` is False and the package has no ONNX model, or a folder the
            caller may not load (``ws.access``: over the network, outside the allowed code roots).
        CorruptArtifactError: the registered package was changed.
    """
    from forgeml.registry._service import artifact_digests
    from forgeml.registry.package import preflight

    out: dict[str, Any] = {"name": variant.name, "weight": variant.weight, "workers": variant.workers, "mode": variant.mode,
                           "trusted": trusted}  # fmt: skip
    if variant.mode == "MultiModel":
        ws.access.check_code(variant.model_dir or "", f"variants[{variant.name}].model_dir")  # packages run code when loaded
        folder = Path(variant.model_dir or "").expanduser().resolve()
        if not folder.is_dir():
            raise ValidationError(f"variant {variant.name!r}: model_dir {variant.model_dir!r} is not a folder")
        out.update(model_dir=str(folder), cache_bytes=int(variant.model_cache_mb * 1024 * 1024),
                   cache_enabled=variant.model_cache == "Enabled", model=str(folder))  # fmt: skip
        return out
    source = str(variant.model)
    try:
        # verified (by its manifest, or the registry's digests) and checked against the caller's access
        folder, registered = ws.registry.package(source, field=f"variants[{variant.name}].model")
    except (NotFoundError, ValidationError) as exc:
        raise type(exc)(f"variant {variant.name!r}: {exc.message}") from None
    if registered is None:
        art = ws.artifacts.put_dir(folder)
        local = ws.artifacts.get_dir(art.digest, models_dir / variant.name)
        digests, origin, source_ref = artifact_digests(ws.artifacts, art.digest), source, art.ref
    else:
        local = folder
        digests, origin, source_ref = ws.registry.digests(registered), registered.ref, registered.ref
    preflight(local, trusted=trusted, digests=digests, origin=origin)
    out.update(model=source, model_path=str(local), source_ref=source_ref, digests=digests, origin=origin)
    return out


__all__ = ["resolve_variant"]
