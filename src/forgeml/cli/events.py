"""``forgeml events``: the persisted log of every state change."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace
from forgeml.cli._refs import ref_option

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float | None = None) -> float:
    """``--since`` as a Unix time: a duration back from now (``30m``, ``2h``, ``7d``) or an ISO time (UTC when no zone).

    Raises:
        ValidationError: naming the value when it is neither.
    """
    from forgeml.errors import ValidationError

    if m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text):
        return (time.time() if now is None else now) - float(m[1]) * _UNITS[m[2]]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"--since: {text!r} is neither a duration (30m, 2h, 7d) nor an ISO time (2026-12-07 or 2026-12-07T15:00)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def events(
    resource: str = ref_option("REF", "--resource", help="Only events of this resource."),
    after: int = typer.Option(0, help="Only events after this id; pages forward from there (oldest first)."),
    since: str = typer.Option(None, "--since", help="Only events since this time: 30m, 2h, 7d, or an ISO time (UTC)."),
    limit: int = typer.Option(100, min=0, help="At most this many: the newest ones (or the first ones after --after); 0 for all."),
    as_json: bool = JsonOption,
) -> None:
    """List events, oldest first; --limit keeps the newest ones, which are printed last."""
    ws = workspace()
    if resource is not None:
        resource = ws.lineage.canonical(resource)  # model/loans@champion -> model/loans:2
    found = ws.metadata.list_events(
        resource=resource, after_id=after, limit=limit or None, newest=not after, since=None if since is None else parse_since(since)
    )
    data = [e.to_dict() for e in found]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} event(s), newest last", ["id", "time", "resource", "type", "data"],
        ((d["id"], short_time(d["time"]), d["resource"], d["type"], d["data"]) for d in data),
    ))  # fmt: skip
