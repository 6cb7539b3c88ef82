"""``forgeml events``: the persisted log of every state change."""

from __future__ import annotations

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace


def events(
    resource: str = typer.Option(None, help="Only events of this resource (e.g. job/NAME)."),
    after: int = typer.Option(0, help="Only events after this id."),
    limit: int = typer.Option(100, help="At most this many."),
    as_json: bool = JsonOption,
) -> None:
    """List events in the order they happened."""
    data = [e.to_dict() for e in workspace().metadata.list_events(resource=resource, after_id=after, limit=limit)]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} event(s)", ["id", "time", "resource", "type", "data"],
        ((d["id"], short_time(d["time"]), d["resource"], d["type"], d["data"]) for d in data),
    ))  # fmt: skip
