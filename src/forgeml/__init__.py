"""ForgeML: the production ML lifecycle on one machine.

    import forgeml as fm
    ws = fm.workspace()              # ./.forgeml, or FORGEML_HOME
    ds = ws.datasets.create("loans", frame)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forgeml.errors import (
    AlreadyExistsError,
    ForgeError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.settings import Settings

__version__ = "0.1.0"

_default: Workspace | None = None


def workspace(home: str | None = None, settings: Settings | None = None, **overrides: Any) -> Workspace:
    """Open a workspace. Without arguments, the process-wide default one (from the environment)."""
    global _default
    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    if home is None and settings is None and not overrides:
        if _default is None:
            _default = Workspace(load_settings())
        return _default
    return Workspace(settings or load_settings(home=home, **overrides))


def __getattr__(name: str) -> Any:
    lazy = {
        "Workspace": ("forgeml.core.workspace", "Workspace"),
        "Settings": ("forgeml.settings", "Settings"),
        "load_settings": ("forgeml.settings", "load_settings"),
        "JobContext": ("forgeml.core.jobs", "JobContext"),
        "save_model": ("forgeml.registry.package", "save_model"),
        "load_model": ("forgeml.registry.package", "load_model"),
        "start_run": ("forgeml.experiments", "start_run"),
    }
    if name in lazy:
        import importlib

        module, attr = lazy[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'forgeml' has no attribute {name!r}")


__all__ = [
    "AlreadyExistsError",
    "ForgeError",
    "InvalidTransitionError",
    "NotFoundError",
    "ValidationError",
    "Workspace",
    "load_model",
    "save_model",
    "start_run",
    "workspace",
]
