"""``forgeml events``: the persisted log of every state change."""

from __future__ import annotations

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace
from forgeml.cli._refs import ref_option


def events(
    resource: str = ref_option("REF", "--resource", help="Only events of this resource."),
    after: int = typer.Option(0, help="Only events after this id."),
    limit: int = typer.Option(100, help="At most this many."),
    as_json: bool = JsonOption,
) -> None:
    """List events in the order they happened."""
    ws = workspace()
    if resource is not None:
        resource = ws.lineage.canonical(resource)  # model/loans@champion -> model/loans:2
    data = [e.to_dict() for e in ws.metadata.list_events(resource=resource, after_id=after, limit=limit)]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} event(s)", ["id", "time", "resource", "type", "data"],
        ((d["id"], short_time(d["time"]), d["resource"], d["type"], d["data"]) for d in data),
    ))  # fmt: skip
