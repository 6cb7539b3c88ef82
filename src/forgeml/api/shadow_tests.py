"""``/shadow-tests``: shadow tests of live endpoints (SageMaker's InferenceExperiment role).

The shadow model is checked like any model a network caller names (``ws.registry.package``: a
registry reference, or a package folder only where the operator allowed one).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(prefix="/shadow-tests", tags=["shadow-tests"])


class CreateShadowTest(BaseModel):
    """``CreateInferenceExperiment`` (Type ShadowMode) in ForgeML's names."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: StrictStr = Field(max_length=63)
    endpoint: StrictStr = Field(max_length=200)
    model: StrictStr = Field(max_length=1000, json_schema_extra=reaches("model", "the shadow model, checked as a model"))
    sampling_percentage: float = Field(100.0, ge=0, le=100)
    start: StrictFloat | None = Field(None, ge=0, le=1e11, description="Unix time; now when left out.")
    end: StrictFloat | None = Field(None, ge=0, le=1e11)
    duration_seconds: StrictFloat | None = Field(None, gt=0, le=30 * 86400)
    production_variant: StrictStr | None = Field(None, max_length=63)
    shadow_variant: StrictStr | None = Field(None, max_length=63)
    problem_type: Literal["auto", "classification", "regression"] = "auto"


class StopShadowTest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    cancel: bool = False


class PromoteShadowTest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    deployment_config: dict[str, Any] | None = Field(
        None, json_schema_extra=reaches("name", "SageMaker's DeploymentConfig: alarm and variant names, no location")
    )


@router.post("", responses=errors(400, 403, 404, 409))
def create_shadow_test(body: CreateShadowTest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Start a shadow test now (Running) or on its schedule (Created)."""
    args = body.model_dump(exclude={"name", "endpoint", "model"})
    return ws.shadow_tests.create(body.name, body.endpoint, body.model, **args).to_dict()


@router.get("", responses=errors())
def list_shadow_tests(endpoint: str | None = None, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.shadow_tests.list(endpoint)]


@router.get("/{name}", responses=errors(404))
def get_shadow_test(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.shadow_tests.get(name).to_dict()


@router.get("/{name}/report", responses=errors(404))
def shadow_test_report(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Latency percentiles, error rates, and agreement (classification) or the difference
    distribution (regression) between production and shadow."""
    return ws.shadow_tests.report(name)


@router.post("/{name}/stop", responses=errors(404, 409))
def stop_shadow_test(name: str, body: StopShadowTest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """End the test and discard the shadow."""
    return ws.shadow_tests.stop(name, cancel=body.cancel).to_dict()


@router.post("/{name}/promote", responses=errors(400, 404, 409))
def promote_shadow_test(name: str, body: PromoteShadowTest, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Deploy the shadow model as the production variant's (through the endpoint's deployment)."""
    return ws.shadow_tests.promote(name, deployment_config=body.deployment_config).to_dict()
