"""``ws.rules``: event rules (the EventBridge role) over the workspace's persisted events.

A rule is a resource of kind ``event-rule`` (one version; status ``ENABLED`` or ``DISABLED``)
whose spec holds the event pattern, the targets and a description. Its durable cursor (the last
event id it has looked at) starts at the newest event when the rule is created or enabled: a rule
reacts to what happens from then on, as EventBridge does, not to history. :meth:`tick` reads the
events after the cursors, matches each rule's pattern against the event's EventBridge envelope
and fires the targets through :func:`forgeml.rules._fire.fire` (at most once per event and
target, across kill -9).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import validate_name
from forgeml.core.records import ResourceRecord
from forgeml.core.refs import name_of
from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError
from forgeml.rules._envelope import envelope
from forgeml.rules._fire import fire, recover
from forgeml.rules._pattern import load_pattern
from forgeml.rules._store import FiringStore
from forgeml.rules._targets import check_target

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

KIND = "event-rule"
ENABLED, DISABLED = "ENABLED", "DISABLED"
BATCH = 500
MAX_TARGETS = 5  # EventBridge allows 5 targets per rule
GAP_WAIT_SECONDS = 5.0


def check_targets(targets: Any, allowed_hosts: list[str], *, network: bool) -> list[dict[str, Any]]:
    """Checked targets (1 to 5)."""
    if not isinstance(targets, list) or not 1 <= len(targets) <= MAX_TARGETS:
        raise ValidationError(f"targets: a list of 1 to {MAX_TARGETS} targets")
    return [check_target(t, f"targets.{i}", allowed_hosts, network=network) for i, t in enumerate(targets)]


class RuleService:
    """Define, inspect and run event rules."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.metadata
        self.firings = FiringStore(workspace)

    @property
    def _network(self) -> bool:
        return not self.ws.access.is_local

    # definition --------------------------------------------------------------------------------
    def create(self, name: str, pattern: str | dict[str, Any], targets: builtins.list[dict[str, Any]], *,
               description: str = "", enabled: bool = True) -> ResourceRecord:  # fmt: skip
        """Define a rule. A pattern that can never match is accepted; its warnings are in
        ``data["warnings"]``.

        Raises:
            ValidationError: a bad name, pattern (unknown operator, ...) or target.
            AlreadyExistsError: a rule of that name exists.
        """
        validate_name(name, "rule name")
        parsed = load_pattern(pattern)
        checked = check_targets(targets, list(self.ws.settings.allowed_webhook_hosts), network=self._network)
        if not isinstance(description, str) or len(description) > 512:
            raise ValidationError("description: a string of at most 512 characters")
        if self.store.list_resources(KIND, name=name, limit=1):
            raise AlreadyExistsError(f"rule {name!r} exists; delete it first to redefine it")
        spec = {"pattern": pattern if isinstance(pattern, dict) else _as_object(pattern), "targets": checked, "description": description}
        record = self.store.create_resource(ResourceRecord(KIND, name, 1, ENABLED if enabled else DISABLED, spec=spec,
                                                           data={"warnings": list(parsed.warnings)}))  # fmt: skip
        self.firings.set_cursor(record.ref, self._newest())
        return record

    def get(self, name: str) -> ResourceRecord:
        """The rule ``name`` (or ``event-rule/name``).

        Raises:
            NotFoundError: no such rule.
        """
        name = name_of(name, KIND)
        found = self.store.list_resources(KIND, name=name, limit=1)
        if not found:
            raise NotFoundError(f"rule {name!r} does not exist")
        return found[0]

    def list(self) -> builtins.list[ResourceRecord]:
        """Every rule, by name."""
        return sorted(self.store.list_resources(KIND), key=lambda r: r.name)

    def enable(self, name: str) -> ResourceRecord:
        """Enable a rule; it reacts to events from now on (not those while it was disabled)."""
        record = self.get(name)
        if record.status == ENABLED:
            return record
        self.firings.set_cursor(record.ref, self._newest())
        return self.store.update_resource(KIND, record.name, 1, status=ENABLED)

    def disable(self, name: str) -> ResourceRecord:
        record = self.get(name)
        return record if record.status == DISABLED else self.store.update_resource(KIND, record.name, 1, status=DISABLED)

    def delete(self, name: str) -> None:
        """Forget a rule, its cursor and its firings."""
        record = self.get(name)
        self.store.delete_resource(KIND, record.name)
        self.firings.forget(record.ref)

    def history(self, name: str, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """The rule's firings, newest first."""
        return self.firings.list(self.get(name).ref, limit)

    def test_pattern(self, pattern: str | dict[str, Any], event: dict[str, Any] | int) -> dict[str, Any]:
        """``TestEventPattern``: whether ``event`` (an EventBridge event, or a stored event's id,
        shown as its envelope) matches, and the pattern's warnings."""
        parsed = load_pattern(pattern)
        if isinstance(event, int) and not isinstance(event, bool):
            found = self.store.list_events(after_id=event - 1, limit=1)
            if not found or found[0].id != event:
                raise NotFoundError(f"event {event} does not exist")
            event = envelope(found[0])
        if not isinstance(event, dict):
            raise ValidationError("event: an EventBridge event object or a stored event id")
        return {"matches": parsed.matches(event), "warnings": list(parsed.warnings), "event": event}

    # SDK-only callables ------------------------------------------------------------------------
    def register_callable(self, name: str, fn: Callable[[Any], Any]) -> None:
        """Let ``{"type": "callable", "name": name}`` targets call ``fn(input)`` in this process
        (the process running the rules loop must register it too)."""
        if not callable(fn):
            raise ValidationError(f"callable {name!r}: not callable")
        callables: dict[str, Callable[[Any], Any]] = self.ws.shared("rules.callables", dict)
        callables[name] = fn

    # the loop ----------------------------------------------------------------------------------
    def _newest(self) -> int:
        newest = self.store.list_events(limit=1, newest=True)
        return newest[0].id if newest else 0

    def _targets_of(self, source: str, event_key: str) -> tuple[builtins.list[dict[str, Any]], dict[str, Any]] | None:
        name = source.partition("/")[2].rpartition(":")[0]
        found = self.store.list_resources(KIND, name=name, limit=1)
        events = self.store.list_events(after_id=int(event_key) - 1, limit=1)
        if not found or not events:
            return None
        return found[0].spec["targets"], envelope(events[0])

    def tick(self) -> int:
        """One pass: settle interrupted firings, then match the events after each enabled rule's
        cursor; returns the targets that acted."""
        acted = recover(self.ws, self.firings, self._targets_of)
        rules = [r for r in self.list() if r.status == ENABLED]
        if not rules:
            return acted
        cursor = {r.ref: (self.firings.cursor(r.ref) or (0, None))[0] for r in rules}
        patterns = {r.ref: load_pattern(r.spec["pattern"]) for r in rules}
        events = _settled(self.store.list_events(after_id=min(cursor.values()), limit=BATCH), min(cursor.values()))
        for event in events:
            shaped = envelope(event)
            for rule in rules:
                if event.id <= cursor[rule.ref]:
                    continue
                if patterns[rule.ref].matches(shaped):
                    acted += fire(self.ws, self.firings, rule.ref, str(event.id), event.id, rule.spec["targets"], shaped)
        if events:  # a crash before this re-reads the batch; the firings' keys stop any repeat
            for rule in rules:
                self.firings.set_cursor(rule.ref, max(cursor[rule.ref], events[-1].id))
        return acted


def _settled(events: builtins.list[Any], after: int, now: float | None = None) -> builtins.list[Any]:
    """The events up to the first id gap younger than :data:`GAP_WAIT_SECONDS`: with PostgreSQL a
    transaction holding a lower id can commit after a higher one, so the cursor waits for it (an
    old gap is a rolled-back transaction and is passed)."""
    import time

    now = time.time() if now is None else now
    out, expected = [], after + 1
    for event in events:
        if event.id != expected and now - event.time < GAP_WAIT_SECONDS:
            break
        out.append(event)
        expected = event.id + 1
    return out


def _as_object(text: str) -> dict[str, Any]:
    from forgeml.rules._pattern import _load_text

    value: dict[str, Any] = _load_text(text)
    return value


__all__ = ["DISABLED", "ENABLED", "KIND", "RuleService", "check_targets"]
