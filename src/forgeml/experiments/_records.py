"""Immutable records of experiments and runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

from forgeml.core.records import iso

# SageMaker trial-component statuses.
RUN_STATUSES: Final = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
RUN_KINDS: Final = ("manual", "training", "tuning", "trial")


@dataclass(frozen=True)
class ExperimentRecord:
    """A named group of runs."""

    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    run_count: int = 0

    @property
    def ref(self) -> str:
        return f"experiment/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["created_at"] = iso(self.created_at)
        return out


@dataclass(frozen=True)
class RunRecord:
    """One run (SageMaker: trial component): parameters, latest metrics, tags and artifacts.

    ``metrics`` holds the latest value of each series (the point with the highest step);
    the full series live in the metadata store under ``metrics_owner``.
    """

    id: int
    experiment: str
    name: str
    status: str
    kind: str = "manual"
    source: str | None = None
    metrics_owner: str = ""
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: float = 0.0
    ended_at: float | None = None
    updated_at: float = 0.0

    @property
    def ref(self) -> str:
        """Path-like address ``run/EXPERIMENT/RUN``."""
        return f"run/{self.experiment}/{self.name}"

    @property
    def key(self) -> str:
        """The short address users type: ``EXPERIMENT/RUN``."""
        return f"{self.experiment}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("created_at", "ended_at", "updated_at"):
            out[name] = iso(out[name])
        return out


__all__ = ["RUN_KINDS", "RUN_STATUSES", "ExperimentRecord", "RunRecord"]
