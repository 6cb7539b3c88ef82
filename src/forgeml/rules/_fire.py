"""Acting on one firing: intent, action, outcome (see :mod:`forgeml.rules._store`)."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import TYPE_CHECKING, Any

from forgeml.rules._store import FAILED, INTERRUPTED, SUCCEEDED, FiringStore
from forgeml.rules._targets import kind_of, render_input

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

log = logging.getLogger("forgeml.rules")


def firing_key(source: str, event_key: str, target: int) -> str:
    """A name for the firing, the same in every process: ``<rule>-<hash>`` (letters, digits,
    hyphens; usable as a pipeline execution or job name)."""
    bare = source.partition("/")[2]
    name = re.sub(r"[^A-Za-z0-9-]", "-", bare.rpartition(":")[0] or bare)[:40].strip("-") or "fire"
    digest = hashlib.sha1(f"{source}|{event_key}|{target}".encode()).hexdigest()[:12]
    return f"{name}-{digest}"


def _jsonable(value: Any) -> Any:
    import json

    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)[:1000]


def act(ws: Workspace, source: str, event_key: str, index: int, target: dict[str, Any], event: dict[str, Any]) -> tuple[str, Any]:
    """Run one target; its final state and outcome (errors are outcomes, never raised)."""
    kind = kind_of(str(target.get("type", "")))
    try:
        if kind is None:
            raise RuntimeError(f"target type {target.get('type')!r} is not available in this process")
        result = kind.action(ws, target, render_input(target, event), firing_key(source, event_key, index))
        return SUCCEEDED, {"result": _jsonable(result)}
    except Exception as exc:  # a target's failure is recorded, it never stops the loop
        why = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.warning("%s target %d: %s", source, index, why)
        return FAILED, {"error": str(why)[:2000]}


def fire(ws: Workspace, store: FiringStore, source: str, event_key: str, event_id: int | None,
         targets: list[dict[str, Any]], event: dict[str, Any]) -> int:  # fmt: skip
    """Fire every target once for this event; returns how many acted now."""
    acted = 0
    for index, target in enumerate(targets):
        if not store.claim(source, event_key, index, str(target.get("type")), event_id):
            continue  # fired before (or being fired by a live process)
        state, outcome = act(ws, source, event_key, index, target, event)
        store.finish(source, event_key, index, state, {**outcome, "event": event})
        acted += 1
    return acted


def recover(ws: Workspace, store: FiringStore, targets_of: Any) -> int:
    """Settle firings a dead process left ``Pending``: redo idempotent ones, mark the others
    ``Interrupted``. ``targets_of(source)`` gives (targets, event) or None when the rule is gone."""
    settled = 0
    for row in store.orphans():
        if not store.take_over(row):
            continue
        found = targets_of(row["source"], row["event_key"])
        target = found[0][row["target"]] if found and row["target"] < len(found[0]) else None
        kind = kind_of(row["target_type"])
        if target is not None and kind is not None and kind.idempotent:
            state, outcome = act(ws, row["source"], row["event_key"], row["target"], target, found[1])
            outcome = {**outcome, "redone": True, "event": found[1]}
        else:
            state, outcome = INTERRUPTED, {"error": "the process firing it died before recording the outcome; "
                                                    "not repeated (the target may or may not have acted)"}  # fmt: skip
        store.finish(row["source"], row["event_key"], row["target"], state, outcome)
        settled += 1
    return settled


__all__ = ["act", "fire", "firing_key", "recover"]
