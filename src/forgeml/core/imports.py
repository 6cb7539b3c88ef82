"""Import a Python object named ``package.module:attribute`` (entrypoints, objectives, custom steps)."""

from __future__ import annotations

import importlib
from typing import Any

from forgeml.errors import ValidationError


def import_object(path: str, what: str) -> Any:
    """The object ``path`` names: ``package.module:name`` (``name`` may be dotted, ``Class.method``).

    Raises:
        ValidationError: ``{what}: ...`` when the path is malformed or does not import.
    """
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise ValidationError(f"{what}: {path!r} should look like package.module:function")
    try:
        target: Any = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"{what}: cannot import {path!r} ({exc})") from None
    return target


__all__ = ["import_object"]
