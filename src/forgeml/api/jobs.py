"""``/jobs``: list, inspect, stop and read the logs and metrics of jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import MAX_INT
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("", responses=errors())
def list_jobs(
    kind: str | None = None,
    status: list[str] | None = Query(None),
    name_contains: str | None = None,
    limit: int = Query(100, ge=0, le=100_000),
    offset: int = Query(0, ge=0, le=MAX_INT),
    ws: Workspace = Depends(get_workspace),
) -> list[dict[str, Any]]:
    jobs = ws.jobs.list(kind=kind, status=status, name_contains=name_contains, limit=limit or None, offset=offset)
    return [j.to_dict() for j in jobs]


@router.get("/{name}", responses=errors(404))
def get_job(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    job = ws.jobs.get(name)
    data = job.to_dict()
    data["metrics"] = ws.metadata.latest_metrics([job.ref]).get(job.ref, {})
    return data


@router.post("/{name}/stop", responses=errors(404, 409))
def stop_job(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.jobs.stop(name).to_dict()


@router.get("/{name}/logs", response_class=PlainTextResponse, responses=errors(404))
def job_logs(name: str, ws: Workspace = Depends(get_workspace)) -> str:
    return "\n".join(ws.jobs.logs(name))


@router.get("/{name}/metrics", responses=errors(404))
def job_metrics(name: str, key: str | None = None, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [m.to_dict() for m in ws.jobs.metrics(name, key)]
