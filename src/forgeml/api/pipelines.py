"""``/pipelines``, ``/pipeline-executions`` and ``/pipeline-callbacks``.

A definition sent over HTTP may use only steps whose work is built in or uploaded: no
Processing step (it names a server-side callable, unless an operator allowed its module in
``allowed_entry_points``), no training script or channel that is a server path. What a network
caller defines or starts also runs with the network's access, so a parameter that smuggles a
server path into a channel is refused when the step starts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import Int, Positive
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(tags=["pipelines"])


class CreatePipeline(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: StrictStr = Field(max_length=64)
    definition: dict[str, Any] = Field(json_schema_extra=reaches(
        "nested", "the definition JSON; Processing callables are checked as entry points, training scripts as code, "
                  "channels as data sources"))  # fmt: skip
    description: StrictStr | None = Field(None, max_length=1024)


class StartExecution(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    parameters: dict[StrictStr, StrictStr | float | Int | bool] = Field(default_factory=dict, max_length=200)
    display_name: StrictStr | None = Field(None, max_length=255)
    max_parallel: Positive | None = None
    version: Positive | None = None


class StepSuccess(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    token: StrictStr = Field(max_length=64)
    outputs: dict[StrictStr, StrictStr] = Field(default_factory=dict, max_length=200)


class StepFailure(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    token: StrictStr = Field(max_length=64)
    reason: StrictStr = Field("reported failed", max_length=1024)


@router.post("/pipelines", responses=errors(403, 409))
def create_pipeline(body: CreatePipeline, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``CreatePipeline`` / ``UpdatePipeline``: a new version of the pipeline."""
    return ws.pipelines.create(body.definition, name=body.name, description=body.description).to_dict()


@router.get("/pipelines", responses=errors())
def list_pipelines(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.pipelines.list()]


@router.get("/pipelines/{name}", responses=errors(404))
def get_pipeline(name: str, version: Positive | None = None, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``DescribePipeline``: a version with its definition (the latest by default)."""
    return ws.pipelines.get(name, version).to_dict()


@router.post("/pipelines/{name}/executions", responses=errors(403, 404))
def start_execution(name: str, body: StartExecution, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``StartPipelineExecution`` with parameter overrides."""
    ex = ws.pipelines.start(name, dict(body.parameters), version=body.version, display_name=body.display_name,
                            max_parallel=body.max_parallel)  # fmt: skip
    return ex.to_dict()


@router.get("/pipelines/{name}/executions", responses=errors(404))
def list_executions(name: str, limit: int = Query(50, ge=1, le=10_000), ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [e.to_dict() for e in ws.pipelines.executions(name, limit=limit)]


@router.get("/pipeline-executions/{execution}", responses=errors(404))
def describe_execution(execution: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``DescribePipelineExecution`` with its steps (``ListPipelineExecutionSteps``)."""
    return ws.pipelines.describe(execution)


@router.post("/pipeline-executions/{execution}/stop", responses=errors(404, 409))
def stop_execution(execution: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.pipelines.stop(execution).to_dict()


@router.post("/pipeline-executions/{execution}/retry", responses=errors(404, 409))
def retry_execution(execution: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``RetryPipelineExecution``: from the failed steps."""
    return ws.pipelines.retry(execution).to_dict()


@router.post("/pipeline-callbacks/success", responses=errors(404, 409))
def callback_success(body: StepSuccess, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``SendPipelineExecutionStepSuccess``."""
    return ws.pipelines.send_step_success(body.token, dict(body.outputs)).to_dict()


@router.post("/pipeline-callbacks/failure", responses=errors(404, 409))
def callback_failure(body: StepFailure, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``SendPipelineExecutionStepFailure``."""
    return ws.pipelines.send_step_failure(body.token, body.reason).to_dict()
