"""``/tuning-jobs``: create, list, describe and stop hyperparameter tuning jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import Positive, Seed
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/tuning-jobs", tags=["tuning"])


class CreateTuningJob(BaseModel):
    """The body of ``POST /tuning-jobs``: a tuning spec (see docs/tuning-and-experiments.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = None
    strategy: str | None = None
    objective: dict[str, Any] | str = Field(..., description="{'metric': 'validation:auc', 'type': 'Maximize'}")
    parameter_ranges: dict[str, Any] = Field(..., description="name -> {type, min, max, scaling} or {type: Categorical, values}")
    static_hyperparameters: dict[str, Any] | None = None
    training: dict[str, Any] = Field(..., description="arguments of ws.training.create (algorithm or script, channels, target, ...)",
                                     json_schema_extra=reaches("nested", "checked as POST /training-jobs is; an entrypoint as an entry point"))
    max_jobs: Positive | None = None
    max_parallel_jobs: Positive | None = None
    max_runtime_seconds: float | None = None
    early_stopping: str | None = None
    completion_criteria: dict[str, Any] | None = None
    hyperband: dict[str, Any] | None = None
    warm_start: dict[str, Any] | None = None
    random_seed: Seed | None = None
    experiment: str | None = None


@router.post("", status_code=201, responses=errors(403, 404, 409))
def create(body: CreateTuningJob, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    spec = {k: v for k, v in body.model_dump().items() if v is not None and k != "name"}
    job = ws.tuning.create(body.name, spec)
    return ws.tuning.describe(job.name)


@router.get("", responses=errors())
def list_tuning_jobs(limit: int = Query(100, ge=0, le=10_000), ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return ws.tuning.list(limit=limit or None)


@router.get("/{name}", responses=errors(404))
def describe(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.tuning.describe(name)


@router.get("/{name}/trials", responses=errors(404))
def trials(name: str, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return ws.tuning.trials(name)


@router.post("/{name}/stop", responses=errors(404, 409))
def stop(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.tuning.stop(name).to_dict()
