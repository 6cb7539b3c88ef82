"""``/endpoints/{name}/scaling``: autoscaling of endpoint variants (Application Auto Scaling).

Targets, policies and scheduled actions of a variant, the endpoint's scaling activities, and a
variant's instance count set by hand. Nothing here names a location: a policy names an alarm,
a schedule is a time expression.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.api.types import Count
from forgeml.core.workspace import Workspace
from forgeml.serving._scaling_config import StepScaling, TargetTracking

router = APIRouter(tags=["autoscaling"])


class TargetBody(BaseModel):
    """``RegisterScalableTarget``'s bounds and suspension flags."""

    model_config = ConfigDict(extra="forbid", strict=True)
    min_capacity: Count = Field(le=64)
    max_capacity: Count = Field(le=64)
    dynamic_scaling_in_suspended: bool = False
    dynamic_scaling_out_suspended: bool = False
    scheduled_scaling_suspended: bool = False


class PolicyBody(BaseModel):
    """``PutScalingPolicy``: target tracking or step scaling."""

    model_config = ConfigDict(extra="forbid")
    policy_type: str = Field(pattern="^(TargetTrackingScaling|StepScaling)$")
    target_tracking: TargetTracking | None = None
    step_scaling: StepScaling | None = None


class ScheduledActionBody(BaseModel):
    """``PutScheduledAction``: new bounds at a time."""

    model_config = ConfigDict(extra="forbid", strict=True)
    schedule: str = Field(min_length=5, max_length=256)
    timezone: str = Field("UTC", max_length=64)
    start_time: float | None = Field(None, ge=0, le=1e11)
    end_time: float | None = Field(None, ge=0, le=1e11)
    min_capacity: Count | None = Field(None, le=64)
    max_capacity: Count | None = Field(None, le=64)


class CapacityBody(BaseModel):
    """``DesiredInstanceCount`` of one variant."""

    model_config = ConfigDict(extra="forbid", strict=True)
    desired_instance_count: Count = Field(le=64)


@router.get("/endpoints/{name}/scaling", responses=errors(404))
def describe_scaling(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """The endpoint's instance counts, scalable targets, policies and scheduled actions."""
    return ws.scaling.describe(name)


@router.get("/endpoints/{name}/scaling/activities", responses=errors(404))
def scaling_activities(
    name: str, variant: str | None = Query(None, max_length=63), limit: Count = Query(100, ge=1, le=10_000),
    ws: Workspace = Depends(get_workspace),
) -> list[dict[str, Any]]:  # fmt: skip
    """``DescribeScalingActivities``: each decision with its cause and outcome, newest first."""
    return [a.to_dict() for a in ws.scaling.endpoint_activities(name, variant, limit)]


@router.put("/endpoints/{name}/scaling/{variant}/target", responses=errors(404))
def register_target(name: str, variant: str, body: TargetBody, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``RegisterScalableTarget`` (create or update)."""
    return ws.scaling.register_target({"resource_id": ws.scaling.rid(name, variant), **body.model_dump()})


@router.delete("/endpoints/{name}/scaling/{variant}/target", responses=errors(404))
def deregister_target(name: str, variant: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``DeregisterScalableTarget``, with its policies and scheduled actions."""
    rid = ws.scaling.rid(name, variant)
    ws.scaling.deregister_target(rid)
    return {"deregistered": rid}


@router.put("/endpoints/{name}/scaling/{variant}/policies/{policy}", responses=errors(404))
def put_policy(name: str, variant: str, policy: str, body: PolicyBody, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``PutScalingPolicy`` (create or replace)."""
    config = {"name": policy, "resource_id": ws.scaling.rid(name, variant), **body.model_dump(exclude_none=True)}
    return ws.scaling.put_policy(config)


@router.delete("/endpoints/{name}/scaling/{variant}/policies/{policy}", responses=errors(404))
def delete_policy(name: str, variant: str, policy: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.scaling.delete_policy(ws.scaling.rid(name, variant), policy)
    return {"deleted": policy}


@router.put("/endpoints/{name}/scaling/{variant}/scheduled-actions/{action}", responses=errors(404))
def put_scheduled_action(
    name: str, variant: str, action: str, body: ScheduledActionBody, ws: Workspace = Depends(get_workspace)
) -> dict[str, Any]:
    """``PutScheduledAction`` (create or replace)."""
    config = {"name": action, "resource_id": ws.scaling.rid(name, variant), **body.model_dump(exclude_none=True)}
    return ws.scaling.put_scheduled_action(config)


@router.delete("/endpoints/{name}/scaling/{variant}/scheduled-actions/{action}", responses=errors(404))
def delete_scheduled_action(name: str, variant: str, action: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.scaling.delete_scheduled_action(ws.scaling.rid(name, variant), action)
    return {"deleted": action}


@router.put("/endpoints/{name}/variants/{variant}/capacity", responses=errors(404, 409, 503))
def set_capacity(name: str, variant: str, body: CapacityBody, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """Set a variant's instance count now (within its target's bounds), waiting until the
    workers serve: no request fails while they are added or drained."""
    endpoint = ws.endpoints.get(name).name
    return ws.scaling.set_capacity(endpoint, variant, body.desired_instance_count).to_dict()
