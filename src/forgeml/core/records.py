"""Immutable records that stores hand back; services act on them."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any


def iso(timestamp: float | None) -> str | None:
    """A UNIX timestamp as an ISO-8601 UTC string (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.UTC).isoformat()


def _as_dict(record: Any, *time_fields: str) -> dict[str, Any]:
    """A record's fields as a dict, with the named UNIX timestamps as ISO strings."""
    out = dict(record.__dict__)
    for key in time_fields:
        out[key] = iso(out[key])
    return out


@dataclass(frozen=True)
class ResourceRecord:
    """One version of a named resource (dataset, model package, endpoint, ...).

    ``spec`` is what the user asked for and never changes; ``data`` is what the platform learned
    about it (row counts, metrics, URIs) and may be updated with its status.
    """

    kind: str
    name: str
    version: int = 1
    status: str = "Created"
    spec: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def ref(self) -> str:
        """Path-like address ``kind/name:version`` used by lineage."""
        return f"{self.kind}/{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self, "created_at", "updated_at")


@dataclass(frozen=True)
class JobRecord:
    """A long-running unit of work and everything known about it."""

    name: str
    kind: str
    status: str
    config: dict[str, Any] = field(default_factory=dict)
    secondary_status: str | None = None
    failure_reason: str | None = None
    entrypoint: str = ""
    backend: str = "local"
    handle: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    exit_code: int | None = None
    max_runtime_seconds: float | None = None
    attempts: int = 0
    resumable: bool = False
    created_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    updated_at: float = 0.0

    @property
    def ref(self) -> str:
        return f"job/{self.name}"

    @property
    def is_terminal(self) -> bool:
        return self.status in ("Completed", "Failed", "Stopped")

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self, "created_at", "started_at", "ended_at", "updated_at")


@dataclass(frozen=True)
class EventRecord:
    """A persisted state change: the base for triggers, webhooks and the console."""

    id: int
    time: float
    resource: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self, "time")


@dataclass(frozen=True)
class ArtifactRecord:
    """Bytes in the artifact store, addressed by their sha256 digest."""

    digest: str
    size: int
    media_type: str = "application/octet-stream"
    created_at: float = 0.0

    @property
    def ref(self) -> str:
        return f"artifact/{self.digest}"

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self, "created_at")


@dataclass(frozen=True)
class EdgeRecord:
    """A lineage edge: ``src`` was used to produce ``dst``."""

    src: str
    dst: str
    relation: str = "produced"
    job: str | None = None
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self, "created_at")


@dataclass(frozen=True)
class MetricRecord:
    """One point of a metric series owned by a job, run or other resource."""

    owner: str
    key: str
    value: float
    step: int = 0
    timestamp: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self, "timestamp")


__all__ = [
    "ArtifactRecord",
    "EdgeRecord",
    "EventRecord",
    "JobRecord",
    "MetricRecord",
    "ResourceRecord",
    "iso",
]
