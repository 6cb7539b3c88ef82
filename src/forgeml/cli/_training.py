"""Options shared by the commands that describe a training job (``train create``, ``tune create``).

One definition each, so both commands spell, document and read them the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

FeatureOption = typer.Option(None, "--feature", help="Input column (repeatable; default: all but the target).")
RecipeOption = typer.Option(None, "--recipe", help="Preparation recipe spec file (JSON/YAML), fitted on the train channel and packaged with the model.")


def read_spec(path: str | Path, what: str = "spec file") -> dict[str, Any]:
    """A JSON or YAML mapping read from ``path`` (YAML when it ends in .yaml/.yml).

    Raises:
        ValidationError: the file is missing, does not parse, or is not a mapping; naming it.
    """
    import json

    from forgeml.errors import ValidationError

    file = Path(path)
    if not file.is_file():
        raise ValidationError(f"{what} {str(path)!r} does not exist")
    is_yaml = file.suffix in (".yaml", ".yml")
    try:
        text = file.read_text()
        if is_yaml:
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # any read or parse error is the user's file
        raise ValidationError(f"{path}: not valid {'YAML' if is_yaml else 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path}: the {what} must be a mapping")
    return data


def apply_inputs(training: dict[str, Any], feature: list[str] | None, recipe: str | None) -> dict[str, Any]:
    """Put ``--feature`` and ``--recipe`` into a training job's arguments (they override the spec's)."""
    if feature:
        training["features"] = list(feature)
    if recipe:
        training["recipe"] = read_spec(recipe, "recipe file")
    return training


__all__ = ["FeatureOption", "RecipeOption", "apply_inputs", "read_spec"]
