"""``/alarms`` and ``/metrics``: metric alarms and the metrics store (the CloudWatch role).

A webhook URL in an alarm is accepted only for a host the operator listed in
``FORGEML_ALLOWED_WEBHOOK_HOSTS`` (empty by default; the old ``FORGEML_ALARM_WEBHOOK_ALLOWED_HOSTS`` still counts), so a caller cannot make the server
reach the network.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr

from forgeml.alarms import AlarmConfig, Datapoint
from forgeml.api.deps import get_workspace
from forgeml.api.errors import errors
from forgeml.core.workspace import Workspace

router = APIRouter(tags=["alarms"])
State = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


def _event(e: Any) -> dict[str, Any]:
    return {"id": e.id, "time": e.time, "type": e.type, "data": e.data}


@router.post("/alarms", responses=errors())
def put_alarm(body: AlarmConfig, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    """``PutMetricAlarm``: create an alarm or replace its config (the state is kept)."""
    return ws.alarms.put(body).to_dict()


@router.get("/alarms", responses=errors())
def list_alarms(
    state: State | None = None, ws: Workspace = Depends(get_workspace)
) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ws.alarms.list(state)]


@router.get("/alarms/{name}", responses=errors(404))
def get_alarm(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    return ws.alarms.get(name).to_dict()


@router.delete("/alarms/{name}", responses=errors(404))
def delete_alarm(name: str, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    ws.alarms.delete(name)
    return {"deleted": name}


@router.get("/alarms/{name}/history", responses=errors(404))
def alarm_history(
    name: str, limit: int = Query(100, ge=1, le=10_000), ws: Workspace = Depends(get_workspace)
) -> list[dict[str, Any]]:
    """``DescribeAlarmHistory``: state changes, configuration changes, webhook actions."""
    ws.alarms.get(name)
    return [_event(e) for e in ws.alarms.history(name, limit)]


class SetState(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    state: State
    reason: StrictStr = Field("set over the REST API", max_length=1023)


@router.post("/alarms/{name}/state", responses=errors(404))
def set_alarm_state(
    name: str, body: SetState, ws: Workspace = Depends(get_workspace)
) -> dict[str, Any]:
    """``SetAlarmState``: until the next evaluation."""
    return ws.alarms.set_state(name, body.state, body.reason).to_dict()


class Evaluate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    names: list[StrictStr] | None = Field(None, max_length=1000)


@router.post("/alarms/evaluate", responses=errors(404))
def evaluate_alarms(body: Evaluate, ws: Workspace = Depends(get_workspace)) -> list[dict[str, Any]]:
    """Evaluate alarms now; the ones whose state changed."""
    return [r.to_dict() for r in ws.alarms.evaluate(body.names)]


class MetricDatum(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: StrictStr
    value: StrictFloat | None = None
    values: list[StrictFloat] | None = Field(None, min_length=1, max_length=10_000)
    dimensions: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    timestamp: StrictFloat | None = Field(None, ge=0, le=1e11)


class PutMetricData(BaseModel):
    """``PutMetricData``: datapoints of one namespace (a value, or values for one statistic set)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    namespace: StrictStr
    metric_data: list[MetricDatum] = Field(min_length=1, max_length=1000)


@router.post("/metrics", responses=errors())
def put_metric_data(body: PutMetricData, ws: Workspace = Depends(get_workspace)) -> dict[str, Any]:
    from forgeml.errors import ValidationError

    points = []
    for i, d in enumerate(body.metric_data):
        if (d.value is None) == (d.values is None):
            raise ValidationError(f"metric_data.{i}: give exactly one of value and values")
        points.append(Datapoint.of(body.namespace, d.name, d.dimensions, [d.value] if d.value is not None else d.values or [],
                                   d.timestamp))  # fmt: skip
    return {"stored": ws.alarms.metrics.put(points)}


_EXPOSITION = {200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                     "description": "ListMetrics as JSON, or the Prometheus text exposition"}}  # fmt: skip


@router.get("/metrics", responses=errors() | _EXPOSITION, response_model=list[dict[str, Any]])
def list_metrics(
    request: Request, namespace: str | None = None, name: str | None = None,
    format: Literal["json", "prometheus"] | None = None, ws: Workspace = Depends(get_workspace),
) -> Any:  # fmt: skip
    """``ListMetrics``; or, for a Prometheus scraper (``Accept: text/plain`` or OpenMetrics, or
    ``?format=prometheus``), the text exposition of the monitoring metrics, the endpoints' metrics
    and the alarm states (see forgeml.alarms._prometheus)."""
    from forgeml.alarms._prometheus import exposition, wants_exposition

    if wants_exposition(request.headers.get("accept"), format):
        body, content_type = exposition(ws)
        return Response(body, media_type=content_type)
    return ws.alarms.metrics.series(namespace, name)


@router.get("/metrics/statistics", responses=errors())
def metric_statistics(
    namespace: str, name: str, statistic: str = "Average", period: int = Query(60, ge=1, le=86_400),
    seconds: int = Query(3600, ge=1, le=1_209_600), dimension: list[str] = Query(default_factory=list),
    ws: Workspace = Depends(get_workspace),
) -> list[dict[str, Any]]:  # fmt: skip
    """``GetMetricStatistics`` over the last ``seconds``; ``dimension`` as NAME=VALUE."""
    from forgeml.errors import ValidationError

    dims = {}
    for item in dimension:
        key, sep, val = item.partition("=")
        if not sep:
            raise ValidationError(f"dimension {item!r}: use NAME=VALUE")
        dims[key] = val
    end = float(int(time.time() // period * period + period))
    if seconds // period > 10_000:
        raise ValidationError("seconds / period: at most 10000 periods per request")
    rows = ws.alarms.metrics.statistics(
        namespace, name, dims, start=end - seconds, end=end, period=period, statistic=statistic
    )
    return [{"timestamp": t, "value": v} for t, v in rows]
