"""``/training-jobs``: create, list, describe, stop, and read logs and metrics of training jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import Positive, Seed
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/training-jobs", tags=["training"])


class MetricDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    Name: str
    Regex: str


class CreateTrainingJob(BaseModel):
    """The body of ``POST /training-jobs``: the arguments of ``ws.training.create``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = None
    algorithm: str | None = None
    script: str | None = Field(None, description="the entry script: a path inside source_bundle (or, with an allowed code root, on the server)",
                               json_schema_extra=reaches("code"))
    source_dir: str | None = Field(None, description="a folder on the server (allowed code roots only); over the network use source_bundle",
                                   json_schema_extra=reaches("code"))
    source_bundle: str | None = Field(None, description="digest of a folder uploaded with POST /bundles, holding the script",
                                      json_schema_extra=reaches("bundle"))
    hyperparameters: dict[str, Any] | None = None
    channels: dict[str, Any] = Field(..., description="channel -> dataset/NAME[:VERSION] (or a path in an allowed data root)",
                                     json_schema_extra=reaches("nested", "each channel's source is checked as data"))
    target: str | None = None
    features: list[str] | None = None
    metric_definitions: list[MetricDefinition] | None = None
    max_runtime_seconds: float | None = None
    checkpoint: bool = False
    recipe: dict[str, Any] | None = Field(None, json_schema_extra=reaches("nested", "custom steps' functions are checked as entry points"))
    experiment: str | None = None
    seed: Seed = 0
    rules: list[Any] | None = None
    cpus: Positive | None = None
    network_isolation: bool = False
    tags: dict[str, str] | None = None


@router.get("/algorithms", responses=errors())
def algorithms(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return ws.training.algorithms()


@router.post("", status_code=201, responses=errors(403, 404, 409))
def create(body: CreateTrainingJob, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    args = body.model_dump()
    if body.metric_definitions is not None:
        args["metric_definitions"] = [m.model_dump() for m in body.metric_definitions]
    job = ws.training.create(**args)
    return ws.training.describe(job.name)


@router.get("", responses=errors())
def list_jobs(
    status: list[str] | None = Query(None),
    name_contains: str | None = None,
    limit: int = Query(100, ge=0, le=100_000),
    ws: Workspace = Depends(get_workspace),
) -> list[dict[str, Any]]:
    return [j.to_dict() for j in ws.training.list(status=status, name_contains=name_contains, limit=limit or None)]


@router.get("/{name}", responses=errors(404))
def describe(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.training.describe(name)


@router.post("/{name}/stop", responses=errors(404, 409))
def stop(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.training.stop(name).to_dict()


@router.get("/{name}/logs", response_class=PlainTextResponse, responses=errors(404))
def logs(name: str, ws: Workspace = Depends(get_workspace)) -> str:
    return "\n".join(ws.training.logs(name))


@router.get("/{name}/metrics", responses=errors(404))
def metrics(name: str, key: str | None = None, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [m.to_dict() for m in ws.training.metrics(name, key)]


@router.get("/{name}/model", responses=errors(404))
def model(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return {"artifact": ws.training.model_artifact(name), "packaged": ws.training.record(name).data.get("model_packaged")}
