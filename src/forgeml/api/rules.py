"""``/rules`` and ``/schedules``: event rules and schedules (the EventBridge role).

Over HTTP a target is a webhook (only to hosts the operator listed in ``allowed_webhook_hosts``)
or a registered kind such as ``pipeline``; ``callable`` targets are Python functions and are
defined only through the SDK. Nothing in a body names a server path or an import path.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.core.access import reaches
from forgeml.core.workspace import Workspace

router = APIRouter(tags=["rules"])
Pattern = dict[StrictStr, Any] | StrictStr


class Target(BaseModel):
    """One target: ``{"type": "webhook", "url": ..}`` or ``{"type": "pipeline", "pipeline": ..}``;
    ``input`` maps names to literals or ``$.paths`` into the event."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: StrictStr = Field(max_length=32)
    url: StrictStr | None = Field(None, max_length=2048, json_schema_extra=reaches("output", "posted to only when its host is in allowed_webhook_hosts"))
    pipeline: StrictStr | None = Field(None, max_length=255)
    input: dict[StrictStr, Any] | None = Field(None, max_length=100)


class RuleBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: StrictStr = Field(max_length=63)
    pattern: Pattern
    targets: list[Target] = Field(min_length=1, max_length=5)
    description: StrictStr = Field("", max_length=512)
    enabled: StrictBool = True


class TestPatternBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    pattern: Pattern
    event: dict[StrictStr, Any] | None = None
    event_id: StrictInt | None = Field(None, ge=1, le=2**53)


class ScheduleBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: StrictStr = Field(max_length=63)
    expression: StrictStr = Field(max_length=256)
    timezone: StrictStr = Field("UTC", max_length=64)
    targets: list[Target] = Field(min_length=1, max_length=5)
    description: StrictStr = Field("", max_length=512)
    enabled: StrictBool = True


def _targets(body: RuleBody | ScheduleBody) -> list[dict[str, Any]]:
    return [t.model_dump(exclude_none=True) for t in body.targets]


# rules -----------------------------------------------------------------------------------------
@router.post("/rules", responses=errors(400, 409))
def create_rule(body: RuleBody, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``PutRule`` + ``PutTargets``: a pattern that can never match is accepted, with ``data.warnings``."""
    return ws.rules.create(body.name, body.pattern, _targets(body), description=body.description, enabled=body.enabled).to_dict()


@router.get("/rules", responses=errors())
def list_rules(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.rules.list()]


@router.post("/rules/test-pattern", responses=errors(400, 404))
def test_pattern(body: TestPatternBody, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``TestEventPattern`` on an EventBridge event or a stored event's id."""
    from forgeml.errors import ValidationError

    if (body.event is None) == (body.event_id is None):
        raise ValidationError("test-pattern: give exactly one of event and event_id")
    return ws.rules.test_pattern(body.pattern, body.event if body.event is not None else body.event_id)


@router.get("/rules/{name}", responses=errors(404))
def get_rule(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.rules.get(name).to_dict()


@router.delete("/rules/{name}", responses=errors(404))
def delete_rule(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.rules.delete(name)
    return {"deleted": name}


@router.post("/rules/{name}/enable", responses=errors(404))
def enable_rule(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.rules.enable(name).to_dict()


@router.post("/rules/{name}/disable", responses=errors(404))
def disable_rule(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.rules.disable(name).to_dict()


@router.get("/rules/{name}/firings", responses=errors(404))
def rule_firings(name: str, limit: int = Query(100, ge=1, le=10_000), ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    """Each firing (event, target, state, outcome), newest first."""
    return ws.rules.history(name, limit)


# schedules -------------------------------------------------------------------------------------
@router.post("/schedules", responses=errors(400, 409))
def create_schedule(body: ScheduleBody, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    record = ws.schedules.create(body.name, body.expression, _targets(body), timezone=body.timezone,
                                 description=body.description, enabled=body.enabled)  # fmt: skip
    return ws.schedules.describe(record)


@router.get("/schedules", responses=errors())
def list_schedules(ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return [ws.schedules.describe(r) for r in ws.schedules.list()]


@router.get("/schedules/{name}", responses=errors(404))
def get_schedule(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.schedules.describe(ws.schedules.get(name))


@router.delete("/schedules/{name}", responses=errors(404))
def delete_schedule(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.schedules.delete(name)
    return {"deleted": name}


@router.post("/schedules/{name}/enable", responses=errors(404))
def enable_schedule(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.schedules.describe(ws.schedules.enable(name))


@router.post("/schedules/{name}/disable", responses=errors(404))
def disable_schedule(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.schedules.describe(ws.schedules.disable(name))


@router.get("/schedules/{name}/firings", responses=errors(404))
def schedule_firings(name: str, limit: int = Query(100, ge=1, le=10_000), ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    return ws.schedules.history(name, limit)
