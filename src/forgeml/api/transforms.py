"""``/transform-jobs``: batch transform jobs over HTTP.

    POST /transform-jobs               create (body: model, inputs | dataset, and SageMaker-style settings)
    GET  /transform-jobs               list, newest first
    GET  /transform-jobs/{name}        settings, status, progress metrics, per-file results
    POST /transform-jobs/{name}/stop   stop it
    GET  /transform-jobs/{name}/output/{file}   one ``.out`` file (how a network caller gets results)

Over the network ``model`` is a registry reference, ``inputs`` lie in an allowed data root (or
give ``dataset``) and ``output_path`` may not be given (docs/user-guide.md, "What the REST API may
touch"): the outputs stay under the job's folder and are served here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace
from forgeml.serving._transform_config import TransformConfig

router = APIRouter(prefix="/transform-jobs", tags=["transform"])


class CreateTransform(TransformConfig):
    """The request of ``POST /transform-jobs``: :class:`TransformConfig`'s fields (checked as the
    SDK checks them) plus the job's name and runtime limit (see docs/batch-transform.md)."""

    name: str | None = None
    max_runtime_seconds: float | None = Field(None, gt=0)


@router.post("", status_code=201, responses=errors(403, 404, 409))
def create(body: CreateTransform, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    params = body.model_dump(exclude={"model", "inputs", "dataset", "name", "output_path", "max_runtime_seconds"})
    job = ws.transforms.create(
        body.model, list(body.inputs) or None, dataset=body.dataset, name=body.name, output_path=body.output_path,
        max_runtime_seconds=body.max_runtime_seconds, **params,
    )  # fmt: skip
    return ws.transforms.describe(job.name)


@router.get("", responses=errors())
def list_transforms(
    status: list[str] | None = Query(None), limit: int = Query(100, ge=0, le=100_000), ws: Workspace = Depends(get_workspace)
) -> list[dict[str, Any]]:
    return [j.to_dict() for j in ws.transforms.list(status=status, limit=limit or None)]


@router.get("/{name}", responses=errors(404))
def describe(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.transforms.describe(name)


@router.get("/{name}/output/{file}", responses=errors(404))
def output(
    name: str, file: str = PathParam(json_schema_extra=reaches("name", "the name of one of the job's output files, never a path")),
    ws: Workspace = Depends(get_workspace),
) -> FileResponse:
    return FileResponse(ws.transforms.output_file(name, file), media_type="application/octet-stream", filename=file)


@router.post("/{name}/stop", responses=errors(404, 409))
def stop(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.transforms.stop(name).to_dict()
