"""Where each variant's model comes from: a package folder or a registry version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError
from forgeml.serving._config import VariantConfig

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace


def resolve_variant(ws: Workspace, variant: VariantConfig, models_dir: Path) -> dict[str, Any]:
    """A variant's runtime entry: its model as a local package folder, and where it came from.

    ``variant.model`` is a model reference (``loans``, ``loans:2``, ``loans@champion``,
    ``model/loans:2``) or a package folder (``./pkg``); see ``ws.registry.package``. A package
    folder is copied through the artifact store (so later changes to the folder do not reach a
    running endpoint); a registry reference is downloaded (verified) from the registry.

    Raises:
        ValidationError: a folder that is not a package, or a malformed reference.
        NotFoundError: an unknown registry group, version or alias.
    """
    out: dict[str, Any] = {"name": variant.name, "weight": variant.weight, "workers": variant.workers, "mode": variant.mode}
    if variant.mode == "MultiModel":
        folder = Path(variant.model_dir or "").expanduser().resolve()
        if not folder.is_dir():
            raise ValidationError(f"variant {variant.name!r}: model_dir {variant.model_dir!r} is not a folder")
        out.update(model_dir=str(folder), cache_bytes=int(variant.model_cache_mb * 1024 * 1024),
                   cache_enabled=variant.model_cache == "Enabled", model=str(folder))  # fmt: skip
        return out
    source = str(variant.model)
    try:
        folder, registered = ws.registry.package(source)
    except (NotFoundError, ValidationError) as exc:
        raise type(exc)(f"variant {variant.name!r}: {exc.message}") from None
    if registered is None:
        art = ws.artifacts.put_dir(folder)
        local = ws.artifacts.get_dir(art.digest, models_dir / variant.name)
        out.update(model=source, model_path=str(local), source_ref=art.ref)
        return out
    out.update(model=source, model_path=str(folder), source_ref=registered.ref)
    return out


__all__ = ["resolve_variant"]
