"""Where each variant's model comes from: a package folder or a registry version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError
from forgeml.serving._config import VariantConfig

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace


def resolve_variant(ws: Workspace, variant: VariantConfig, models_dir: Path) -> dict[str, Any]:
    """A variant's runtime entry: its model as a local package folder, and where it came from.

    A package folder is copied through the artifact store (so later changes to the folder do not
    reach a running endpoint); a registry reference is downloaded (verified) from the registry.

    Raises:
        ValidationError: a folder that is not a package, or a malformed reference.
        NotFoundError: an unknown registry group, version or alias.
    """
    from forgeml.registry.package import MANIFEST

    out: dict[str, Any] = {"name": variant.name, "weight": variant.weight, "workers": variant.workers, "mode": variant.mode}
    if variant.mode == "MultiModel":
        ws.access.check_code(variant.model_dir or "", f"variants[{variant.name}].model_dir")  # packages run code when loaded
        folder = Path(variant.model_dir or "").expanduser().resolve()
        if not folder.is_dir():
            raise ValidationError(f"variant {variant.name!r}: model_dir {variant.model_dir!r} is not a folder")
        out.update(model_dir=str(folder), cache_bytes=int(variant.model_cache_mb * 1024 * 1024),
                   cache_enabled=variant.model_cache == "Enabled", model=str(folder))  # fmt: skip
        return out
    source = str(variant.model)
    path = Path(source).expanduser()
    if ws.access.check_model(source, f"variants[{variant.name}].model") and path.is_dir():
        if not (path / MANIFEST).is_file():
            raise ValidationError(f"variant {variant.name!r}: {source} is not a model package (no {MANIFEST})")
        art = ws.artifacts.put_dir(path)
        local = ws.artifacts.get_dir(art.digest, models_dir / variant.name)
        out.update(model=source, model_path=str(local), source_ref=art.ref)
        return out
    group, version = _registry_ref(source, variant.name)
    registered = ws.registry.get(group, version)
    local = Path(ws.registry.download(group, registered.version))
    if not (local / MANIFEST).is_file():
        raise ValidationError(f"variant {variant.name!r}: registry model {source} has no model package")
    out.update(model=source, model_path=str(local), source_ref=registered.ref)
    return out


def _registry_ref(source: str, variant: str) -> tuple[str, int | str | None]:
    """``GROUP``, ``GROUP:3``, ``GROUP:approved``, ``model/GROUP:latest`` -> (group, version)."""
    text = source.removeprefix("model/")
    group, sep, version = text.partition(":")
    if not group or "/" in group or ":" in version or (sep and not version):
        raise ValidationError(
            f"variant {variant!r}: model {source!r} is neither a package folder nor a registry reference GROUP:VERSION"
        )
    if not sep:
        return group, None
    return group, int(version) if version.isdigit() else version


__all__ = ["resolve_variant"]
