"""``/lineage`` and ``/events``: the lineage graph and the event log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import MAX_INT
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(tags=["lineage"])


@router.get("/lineage/{ref:path}", responses=errors(404))
def lineage(
    ref: str = PathParam(json_schema_extra=reaches("reference", "KIND/NAME[:VERSION], job/NAME or artifact/<digest>")),
    direction: str = Query("upstream", pattern="^(upstream|downstream)$"),
    depth: int = Query(20, ge=1, le=100),
    ws: Workspace = Depends(get_workspace),
) -> dict[str, Any]:
    node = ws.lineage.upstream(ref, depth) if direction == "upstream" else ws.lineage.downstream(ref, depth)
    return node.to_dict()


@router.get("/events", responses=errors(404))
def events(
    resource: str | None = None,
    after: int = Query(0, ge=0, le=MAX_INT),
    limit: int = Query(100, ge=1, le=10_000),
    ws: Workspace = Depends(get_workspace),
) -> list[dict[str, Any]]:
    if resource is not None:
        resource = ws.lineage.canonical(resource)  # model/loans@champion -> model/loans:2
    return [e.to_dict() for e in ws.metadata.list_events(resource=resource, after_id=after, limit=limit)]
