"""``/reports``: every stored report and its self-contained HTML page.

    GET /reports?kind=KIND          stored reports, newest first
    GET /reports/{KIND/NAME[:VERSION]}   the page (text/html; 404 when there is none)

The page is read from the store and sent in the response; nothing is written on the server.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("", responses=errors(404))
def list_reports(kind: str | None = None, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [{"ref": r.ref, "kind": r.kind, "name": r.name, "version": r.version, "created_at": r.to_dict()["created_at"],
             "html": f"/reports/{r.ref}"} for r in ws.reports.list(kind)]  # fmt: skip


@router.get("/{ref:path}", response_class=HTMLResponse, responses=errors(404))
def report_html(
    ref: str = PathParam(json_schema_extra=reaches("reference", "a stored report: KIND/NAME[:VERSION], never a file")),
    ws: Workspace = Depends(get_workspace),
) -> HTMLResponse:
    return HTMLResponse(ws.reports.html(ref))
