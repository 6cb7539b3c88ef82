"""Bridge to the data package's fitted recipes (kept apart so packages load without it)."""

from __future__ import annotations

from typing import Any


def load_recipe(data: dict[str, Any]) -> Any:
    """Rebuild a fitted recipe from its serialized form (``forgeml.data.recipes``)."""
    from forgeml.data.recipes import FittedRecipe

    return FittedRecipe.from_dict(data)
