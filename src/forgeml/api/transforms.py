"""``/transform-jobs``: batch transform jobs over HTTP (paths are on the server's machine).

    POST /transform-jobs               create (body: model, inputs | dataset, and SageMaker-style settings)
    GET  /transform-jobs               list, newest first
    GET  /transform-jobs/{name}        settings, status, progress metrics, per-file results
    POST /transform-jobs/{name}/stop   stop it
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from forgeml.api.deps import get_workspace
from forgeml.core.workspace import Workspace
from forgeml.serving._transform_config import TransformConfig

router = APIRouter(prefix="/transform-jobs", tags=["transform"])


class CreateTransform(TransformConfig):
    """The request of ``POST /transform-jobs``: :class:`TransformConfig`'s fields (checked as the
    SDK checks them) plus the job's name and runtime limit (see docs/batch-transform.md)."""

    name: str | None = None
    max_runtime_seconds: float | None = Field(None, gt=0)


@router.post("", status_code=201)
def create(body: CreateTransform, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    params = body.model_dump(exclude={"model", "inputs", "dataset", "name", "output_path", "max_runtime_seconds"})
    job = ws.transforms.create(
        body.model, list(body.inputs) or None, dataset=body.dataset, name=body.name, output_path=body.output_path,
        max_runtime_seconds=body.max_runtime_seconds, **params,
    )  # fmt: skip
    return ws.transforms.describe(job.name)


@router.get("")
def list_transforms(
    status: list[str] | None = Query(None), limit: int = Query(100, ge=0, le=100_000), ws: Workspace = Depends(get_workspace)
) -> list[dict[str, Any]]:
    return [j.to_dict() for j in ws.transforms.list(status=status, limit=limit or None)]


@router.get("/{name}")
def describe(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.transforms.describe(name)


@router.post("/{name}/stop")
def stop(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.transforms.stop(name).to_dict()
