"""ForgeML's persisted events as EventBridge events (the envelope rules match).

Every stored event becomes ``{"version": "0", "id", "detail-type", "source", "account",
"time", "region", "resources", "detail"}`` (reference §3.1). ``id`` is a UUID derived from the
event's id, so the same event always has the same envelope; ``account`` is ``000000000000`` and
``region`` ``local``; ``resources`` is the resource reference (``alarm/cpu-high:1``). Custom
sources must not start with ``aws.``, so every source is ``forgeml.<family>``. The event types
the closed loop reacts to get SageMaker's and CloudWatch's detail-types and field names
(docs/rules.md has the table); every other event keeps its type as detail-type and its data as
detail, with ``resource`` added, so any event can be matched.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from forgeml.core.records import EventRecord

ACCOUNT = "000000000000"
REGION = "local"
_NAMESPACE = uuid.UUID("6f1c9a52-3d0e-4c5b-9a55-1f3f2f5a7e10")

Mapper = Callable[[EventRecord, str, str, int | None], tuple[str, str, dict[str, Any]] | None]


def _split(resource: str) -> tuple[str, str, int | None]:
    kind, _, rest = resource.partition("/")
    name, _, version = rest.rpartition(":") if ":" in rest else (rest, "", "")
    return kind, name, int(version) if version.isdigit() else None


def iso(t: float) -> str:
    """EventBridge's ``time``: ISO-8601 UTC to the second."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _model_package(e: EventRecord, kind: str, name: str, version: int | None) -> tuple[str, str, dict[str, Any]] | None:
    if e.type != "ModelPackageStateChange" or e.data.get("change") not in ("registered", "approval"):
        return None
    detail = {"ModelPackageGroupName": name, "ModelPackageVersion": version, "ModelPackageArn": e.resource,
              "ModelPackageStatus": "Completed", "ModelApprovalStatus": e.data.get("to"),
              "PreviousApprovalStatus": e.data.get("from"), "Change": e.data.get("change"), "By": e.data.get("by")}  # fmt: skip
    return "forgeml.registry", "SageMaker Model Package State Change", detail


def _monitoring(e: EventRecord, kind: str, name: str, version: int | None) -> tuple[str, str, dict[str, Any]] | None:
    if not e.type.startswith("MonitoringExecution") or e.type == "MonitoringExecutionScheduled":
        return None
    detail = {"MonitoringExecutionName": name, "MonitoringExecutionStatus": e.type.removeprefix("MonitoringExecution"),
              "Violations": e.data.get("violations"), "StatusDetail": e.data.get("detail")}  # fmt: skip
    return "forgeml.monitoring", "Monitoring Execution Status Change", detail


def _alarm(e: EventRecord, kind: str, name: str, version: int | None) -> tuple[str, str, dict[str, Any]] | None:
    if e.type != "AlarmStateChange":
        return None
    return "forgeml.alarms", "CloudWatch Alarm State Change", dict(e.data)


def _dataset(e: EventRecord, kind: str, name: str, version: int | None) -> tuple[str, str, dict[str, Any]] | None:
    if e.type != "Created":
        return None
    return "forgeml.data", "Dataset Version Created", {"DatasetName": name, "DatasetVersion": version, "DatasetRef": e.resource}


def _deployment(e: EventRecord, kind: str, name: str, version: int | None) -> tuple[str, str, dict[str, Any]] | None:
    if e.type != "StatusChanged":
        return None
    detail = {"EndpointName": name, "DeploymentVersion": version, "DeploymentStatus": e.data.get("to"),
              "PreviousDeploymentStatus": e.data.get("from")}  # fmt: skip
    return "forgeml.serving", "SageMaker Endpoint Deployment State Change", detail


def _endpoint(e: EventRecord, kind: str, name: str, version: int | None) -> tuple[str, str, dict[str, Any]] | None:
    if e.type != "StatusChanged":
        return None
    detail = {"EndpointName": name, "EndpointVersion": version, "EndpointStatus": e.data.get("to"),
              "PreviousEndpointStatus": e.data.get("from")}  # fmt: skip
    return "forgeml.serving", "SageMaker Endpoint State Change", detail


def _job(e: EventRecord, kind: str, name: str, version: int | None) -> tuple[str, str, dict[str, Any]] | None:
    if e.type != "StatusChanged":
        return None
    detail = {"JobName": name, "JobStatus": e.data.get("to"), "PreviousJobStatus": e.data.get("from")}
    if e.data.get("reason"):
        detail["FailureReason"] = e.data["reason"]
    return "forgeml.jobs", "Job State Change", detail


MAPPERS: dict[str, Mapper] = {
    "model": _model_package,
    "monitoring-execution": _monitoring,
    "alarm": _alarm,
    "dataset": _dataset,
    "endpoint-deployment": _deployment,
    "endpoint": _endpoint,
    "job": _job,
}


def register_mapper(kind: str, mapper: Mapper) -> None:
    """Give the events of resources of ``kind`` their own source, detail-type and detail (a
    mapper returns None to fall back to the generic shape)."""
    MAPPERS[kind] = mapper


def envelope(event: EventRecord) -> dict[str, Any]:
    """The EventBridge event of one stored event."""
    kind, name, version = _split(event.resource)
    mapped = MAPPERS[kind](event, kind, name, version) if kind in MAPPERS else None
    if mapped is None:
        source, detail_type, detail = f"forgeml.{kind or 'workspace'}", event.type, {**event.data, "resource": event.resource}
    else:
        source, detail_type, detail = mapped
    return {"version": "0", "id": str(uuid.uuid5(_NAMESPACE, str(event.id))), "detail-type": detail_type, "source": source,
            "account": ACCOUNT, "time": iso(event.time), "region": REGION, "resources": [event.resource],
            "detail": detail, "forgeml-event-id": event.id}  # fmt: skip


def scheduled_envelope(schedule: str, fire_time: float) -> dict[str, Any]:
    """The event a schedule's fire delivers (EventBridge's ``Scheduled Event``: empty detail)."""
    return {"version": "0", "id": str(uuid.uuid5(_NAMESPACE, f"{schedule}@{fire_time}")), "detail-type": "Scheduled Event",
            "source": "forgeml.scheduler", "account": ACCOUNT, "time": iso(fire_time), "region": REGION,
            "resources": [schedule], "detail": {}}  # fmt: skip


__all__ = ["envelope", "iso", "register_mapper", "scheduled_envelope"]
