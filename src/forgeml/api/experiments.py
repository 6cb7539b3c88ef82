"""``/experiments`` and ``/runs``: experiments, runs, logging, search and compare."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import Count, Int
from forgeml.core.workspace import Workspace

router = APIRouter(tags=["experiments"])


class CreateExperiment(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    description: str = ""
    tags: dict[str, str] | None = None


class CreateRun(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = None
    params: dict[str, Any] | None = None
    tags: dict[str, Any] | None = None


class LogMetrics(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    metrics: dict[str, float]
    step: Int = 0


class KeyValues(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    values: dict[str, Any]


class EndRun(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    status: str = "Completed"


class SearchRuns(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    filter: str | None = Field(None, description="e.g. metrics.validation:auc > 0.8 and params.max_depth = 3")
    experiments: list[str] | None = None
    order_by: list[str] | None = None
    max_results: Count | None = 1000
    offset: Count = 0


class CompareRuns(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    runs: list[str] = Field(..., min_length=1, description="EXPERIMENT/RUN")


@router.get("/experiments", responses=errors())
def list_experiments(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [e.to_dict() for e in ws.experiments.list_experiments()]


@router.post("/experiments", status_code=201, responses=errors(404, 409))
def create_experiment(body: CreateExperiment, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.experiments.create_experiment(body.name, body.description, body.tags).to_dict()


@router.get("/experiments/{name}", responses=errors(404))
def get_experiment(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.experiments.get_experiment(name).to_dict()


@router.delete("/experiments/{name}", responses=errors(404, 409))
def delete_experiment(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return {"name": name, "deleted_runs": ws.experiments.delete_experiment(name)}


@router.get("/experiments/{name}/runs", responses=errors(404))
def list_runs(name: str, limit: int = Query(100, ge=0, le=100_000), ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.experiments.list_runs(name, limit=limit or None)]


@router.post("/experiments/{name}/runs", status_code=201, responses=errors(404, 409))
def create_run(name: str, body: CreateRun, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.experiments.create_run(name, body.name, params=body.params, tags=body.tags).to_dict()


@router.post("/runs/search", responses=errors(404, 409))
def search_runs(body: SearchRuns, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    found = ws.experiments.search_runs(
        body.filter, experiments=body.experiments, order_by=body.order_by, max_results=body.max_results, offset=body.offset
    )
    return [r.to_dict() for r in found]


@router.post("/runs/compare", responses=errors(404, 409))
def compare_runs(body: CompareRuns, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.experiments.compare(body.runs)


@router.get("/runs/{experiment}/{run}", responses=errors(404))
def get_run(experiment: str, run: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.experiments.get_run(f"{experiment}/{run}").to_dict()


@router.get("/runs/{experiment}/{run}/metrics", responses=errors(404))
def metric_history(experiment: str, run: str, key: str | None = None, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [m.to_dict() for m in ws.experiments.metric_history(f"{experiment}/{run}", key)]


@router.post("/runs/{experiment}/{run}/metrics", responses=errors(404, 409))
def log_metrics(experiment: str, run: str, body: LogMetrics, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.experiments.log_metrics(f"{experiment}/{run}", body.metrics, step=body.step)
    return ws.experiments.get_run(f"{experiment}/{run}").to_dict()


@router.post("/runs/{experiment}/{run}/params", responses=errors(404, 409))
def log_params(experiment: str, run: str, body: KeyValues, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.experiments.log_params(f"{experiment}/{run}", body.values)
    return ws.experiments.get_run(f"{experiment}/{run}").to_dict()


@router.post("/runs/{experiment}/{run}/tags", responses=errors(404, 409))
def set_tags(experiment: str, run: str, body: KeyValues, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.experiments.set_tags(f"{experiment}/{run}", body.values)
    return ws.experiments.get_run(f"{experiment}/{run}").to_dict()


@router.post("/runs/{experiment}/{run}/end", responses=errors(404, 409))
def end_run(experiment: str, run: str, body: EndRun, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.experiments.end_run(f"{experiment}/{run}", body.status).to_dict()
