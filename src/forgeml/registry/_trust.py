"""What ``trusted=False`` refuses, decided without loading anything.

Only a compiled package (flavor ``onnx``) can be loaded without running its author's code: ONNX
Runtime interprets the graph, and the manifest and recipe are plain JSON. A pickle (``sklearn``
flavor: joblib, XGBoost/LightGBM sklearn API), an MLflow pyfunc model (cloudpickle, its own Python
code) and a recipe step that imports a function by name (``custom``) all execute code when loaded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    from forgeml.registry._files import PackageFiles
    from forgeml.registry.package import ModelManifest


def untrusted_refusal(manifest: ModelManifest, origin: str) -> str | None:
    """Why ``trusted=False`` refuses this package (its flavor), or ``None`` when it may load it."""
    if manifest.flavor != "onnx":
        what = "an MLflow pyfunc model" if manifest.flavor == "mlflow" else "a pickle"
        return (
            f"model package {origin} has no ONNX model: its {manifest.model_file} is {what}, which runs code when "
            f"loaded, and trusted=False loads only ONNX models; compile it first (forgeml models compile GROUP VERSION "
            f"--holdout ROWS) and load the compiled version"
        )
    return None


def _untrusted_recipe_refusal(recipe: Any, origin: str) -> str | None:
    steps = recipe.get("steps") if isinstance(recipe, dict) else None
    for step in steps or []:
        spec = step.get("spec") if isinstance(step, dict) else None
        if isinstance(spec, dict) and spec.get("type") == "custom":
            return (
                f"model package {origin}: its recipe has a 'custom' step that imports {spec.get('function')!r} and runs it; "
                f"trusted=False loads no code from a package"
            )
    return None


def read_recipe(files: PackageFiles, manifest: ModelManifest) -> Any:
    """The package's recipe as the JSON it is stored as (verified), or ``None``."""
    if not manifest.recipe_file:
        return None
    try:
        return json.loads(files.read_bytes(manifest.recipe_file))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{files.root / manifest.recipe_file} is malformed: {exc}") from None


def check_untrusted(files: PackageFiles, manifest: ModelManifest | None = None) -> None:
    """Refuse what ``trusted=False`` may not load, without loading anything.

    Raises:
        ForbiddenError: the package has no ONNX model, or its recipe imports code.
    """
    from forgeml.errors import ForbiddenError

    manifest = manifest or files.manifest()
    why = untrusted_refusal(manifest, files.origin) or _untrusted_recipe_refusal(read_recipe(files, manifest), files.origin)
    if why:
        raise ForbiddenError(why)


__all__ = ["check_untrusted", "read_recipe", "untrusted_refusal"]
