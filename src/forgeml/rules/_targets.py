"""Targets of rules and schedules, behind a small registry of target kinds.

A target is a mapping ``{"type": KIND, ...}`` plus an optional ``input``: what the target is
given, built from the EventBridge event. ``input`` maps names to values; a value that is a string
starting with ``$`` is a path into the event (``$.detail.alarmName``, ``$.resources[0]``, ``$``
for the whole event; a missing path gives null), anything else is a literal. Without ``input``
the target gets the whole event. The reference names no InputTransformer, so this is the simple
mapping.

Kinds: ``webhook`` (``url``: posted the input as JSON, only to hosts the operator listed in
``allowed_webhook_hosts``), ``callable`` (``name``: a Python function registered in this process
with :meth:`RuleService.register_callable`; never an import path, and never over HTTP) and any kind
registered with :func:`register_target_kind` (``pipeline`` is registered by forgeml.pipelines).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

Action = Callable[["Workspace", dict[str, Any], Any, str], Any]
"""``fn(ws, target, input, key)``: act; ``key`` is the same for the same (rule, event, target)."""


@dataclass(frozen=True)
class TargetKind:
    """A kind of target: how to act, how to check a target of it, whether redoing it is safe.

    Attributes:
        action: does the work; its return value (JSON-able) is the firing's outcome.
        validate: checks a target's fields at definition (raise ValidationError).
        idempotent: the action with the same ``key`` has its effect once however often it runs
            (a pipeline execution named by the key); an interrupted firing is then redone after a
            crash instead of being recorded as ``Interrupted``.
        network: a kind HTTP callers may name in a rule (False: SDK only).
    """

    action: Action
    validate: Callable[[dict[str, Any]], None] | None = None
    idempotent: bool = False
    network: bool = True


KINDS: dict[str, TargetKind] = {}
PLUGINS = ["forgeml.pipelines"]  # imported on first need; each registers its target kinds when imported
_loaded = False


def kind_of(name: str) -> TargetKind | None:
    """The target kind ``name``, importing the plug-in packages once when it is not known yet."""
    global _loaded
    if name not in KINDS and not _loaded:
        _loaded = True
        import importlib

        for module in PLUGINS:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise  # the package is there and broken: say so
                # that family is not in this build
    return KINDS.get(name)


def register_target_kind(
    name: str, action: Action, *, validate: Callable[[dict[str, Any]], None] | None = None,
    idempotent: bool = False, network: bool = True,
) -> None:  # fmt: skip
    """Make ``{"type": name}`` targets available (``register_target_kind("pipeline", fn)``)."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,31}", name):
        raise ValidationError(f"target kind {name!r}: use lower-case letters, digits and '-'")
    KINDS[name] = TargetKind(action, validate, idempotent, network)


# input -----------------------------------------------------------------------------------------
_STEP = re.compile(r"\.([A-Za-z0-9_$@-][A-Za-z0-9_$@-]*)|\[(\d+)\]|\['([^']*)'\]")


def parse_path(path: str, where: str) -> list[str | int]:
    """``$.detail.a[0]`` as steps; raises ValidationError on anything else."""
    if not path.startswith("$"):
        raise ValidationError(f"{where}: {path!r} is not a path (start with $)")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise ValidationError(f"{where}: cannot read {path!r} at {path[pos:]!r} (use $.a.b, $.a[0], $['a-b'])")
        steps.append(int(m[2]) if m[2] is not None else (m[1] if m[1] is not None else m[3]))
        pos = m.end()
    return steps


def read_path(event: Any, steps: list[str | int]) -> Any:
    for step in steps:
        in_list = isinstance(step, int) and isinstance(event, list) and step < len(event)
        if in_list or (isinstance(step, str) and isinstance(event, dict) and step in event):
            event = event[step]
        else:
            return None
    return event


def render_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What the target is given for ``event``."""
    spec = target.get("input")
    if spec is None:
        return event
    return {k: read_path(event, parse_path(v, "input")) if isinstance(v, str) and v.startswith("$") else v
            for k, v in spec.items()}  # fmt: skip


# checks ----------------------------------------------------------------------------------------
def check_target(target: Any, where: str, allowed_hosts: list[str], *, network: bool) -> dict[str, Any]:
    """A checked copy of one target.

    Raises:
        ValidationError: an unknown kind, a kind HTTP may not name, a bad field or input path.
    """
    if not isinstance(target, dict) or not isinstance(target.get("type"), str):
        raise ValidationError(f"{where}: a target is an object with a 'type' ({', '.join(sorted(KINDS))})")
    kind = kind_of(target["type"])
    if kind is None:
        raise ValidationError(f"{where}: unknown target type {target['type']!r} (available: {', '.join(sorted(KINDS))})")
    if network and not kind.network:
        raise ValidationError(f"{where}: {target['type']!r} targets can be defined only through the Python SDK")
    spec = target.get("input")
    if spec is not None:
        if not isinstance(spec, dict) or not all(isinstance(k, str) for k in spec):
            raise ValidationError(f"{where}.input: a mapping of names to values or $-paths")
        for key, value in spec.items():
            if isinstance(value, str) and value.startswith("$"):
                parse_path(value, f"{where}.input.{key}")
    if target["type"] == "webhook":
        check_webhook(target, where, allowed_hosts)
    if kind.validate is not None:
        try:
            kind.validate(target)
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc.message}") from None
    return dict(target)


def webhook_allowed(url: str, allowed: list[str]) -> bool:
    """Whether ``url``'s host (or ``host:port``) is listed."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    names = {a.strip().lower() for a in allowed}
    return bool(host) and (host in names or (parts.port is not None and f"{host}:{parts.port}" in names))


def check_webhook(target: dict[str, Any], where: str, allowed: list[str]) -> None:
    url = target.get("url")
    if set(target) - {"type", "url", "input"}:
        raise ValidationError(f"{where}: a webhook target takes only url and input")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValidationError(f"{where}.url: an http(s) URL")
    if not webhook_allowed(url, allowed):
        raise ValidationError(f"{where}.url: host {urlsplit(url).hostname!r} is not allowed; the operator lists webhook "
                              "hosts in allowed_webhook_hosts (FORGEML_ALLOWED_WEBHOOK_HOSTS; empty: no webhooks)")  # fmt: skip


# built-in kinds --------------------------------------------------------------------------------
def _webhook(ws: Workspace, target: dict[str, Any], payload: Any, key: str) -> dict[str, Any]:
    import httpx

    check_webhook(target, "webhook", list(ws.settings.allowed_webhook_hosts))  # still allowed now?
    response = httpx.post(target["url"], json=payload, headers={"Idempotency-Key": key}, timeout=5.0, follow_redirects=False)
    if not response.is_success:
        raise RuntimeError(f"webhook answered HTTP {response.status_code}")
    return {"status": response.status_code}


def _callable(ws: Workspace, target: dict[str, Any], payload: Any, key: str) -> Any:
    fn = ws.shared("rules.callables", dict).get(target["name"])
    if fn is None:
        raise RuntimeError(f"callable {target['name']!r} is not registered in this process (ws.rules.register_callable)")
    return fn(payload)


def _check_callable(target: dict[str, Any]) -> None:
    if not isinstance(target.get("name"), str) or set(target) - {"type", "name", "input"}:
        raise ValidationError("a callable target takes name (registered with ws.rules.register_callable) and input")


register_target_kind("webhook", _webhook)
register_target_kind("callable", _callable, validate=_check_callable, network=False)

__all__ = ["KINDS", "TargetKind", "check_target", "register_target_kind", "render_input", "webhook_allowed"]
