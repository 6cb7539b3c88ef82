"""The trials table of one tuning job, and what follows from it: best trial, counters, completion.

Shared by the two ways a tuning job runs: as a job whose trials are training jobs
(:mod:`forgeml.tuning._worker`) and in the caller's process with a Python objective
(:mod:`forgeml.tuning._inprocess`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.tuning._spec import TuningSpec

RESOURCE_KIND = "tuning-job"


class TrialBook:
    """Trial records (dicts, as stored on the ``tuning-job`` resource) and completion criteria."""

    def __init__(self, spec: TuningSpec) -> None:
        self.spec = spec
        self.trials: list[dict[str, Any]] = []
        self.completion_reason: str | None = None
        self.not_improving = 0

    def best(self) -> dict[str, Any] | None:
        """The completed trial with the best objective (warm-start parents' included), or None."""
        best = None
        for record in self.trials:
            if record["status"] == "Completed" and record["objective"] is not None and (best is None or self.spec.better(record["objective"], best["objective"])):
                best = record
        return best

    def completed(self, record: dict[str, Any]) -> str | None:
        """Account for a trial that just completed; return a completion criterion it newly meets
        (``TargetObjectiveValueReached`` or ``BestObjectiveNotImproving``), else None."""
        best = self.best()
        improved = best is not None and best is record
        self.not_improving = 0 if improved else self.not_improving + 1
        if self.completion_reason is not None:
            return None
        target = self.spec.target_objective_value
        if target is not None and best is not None and not self.spec.better(target, best["objective"]):
            self.completion_reason = "TargetObjectiveValueReached"
        patience = self.spec.max_jobs_not_improving
        if self.completion_reason is None and patience is not None and self.not_improving >= patience:
            self.completion_reason = "BestObjectiveNotImproving"
        return self.completion_reason

    def counters(self) -> dict[str, dict[str, int]]:
        """SageMaker's TrainingJobStatusCounters and ObjectiveStatusCounters over this job's own trials."""
        new = [t for t in self.trials if t["source"] == "new"]
        jobs = {s: sum(1 for t in new if t["status"] == s) for s in ("Completed", "InProgress", "Failed", "Stopped")}
        jobs["InProgress"] += sum(1 for t in new if t["status"] in ("Pending", "Stopping"))
        objective = {
            "Succeeded": sum(1 for t in new if t["status"] == "Completed"),
            "Pending": sum(1 for t in new if t["status"] in ("Pending", "InProgress")),
            "Failed": sum(1 for t in new if t["status"] in ("Failed", "Stopped")),
        }
        return {"training_jobs": jobs, "objective": objective}

    def persist(self, ws: Workspace, name: str) -> None:
        """Write the trials table, best trial, counters and completion reason to the resource."""
        best = self.best()
        ws.metadata.update_resource(
            RESOURCE_KIND, name, 1,
            data={
                "trials": self.trials, "best": best, "best_training_job": best.get("training_job") if best else None,
                "counters": self.counters(), "completion_reason": self.completion_reason,
            },
        )  # fmt: skip

    def failure(self, *, stopped: bool, launched: int, noun: str = "trial") -> str | None:
        """Why the tuning job failed (every trial failed, or none reported the objective), or None."""
        new = [t for t in self.trials if t["source"] == "new"]
        if stopped:
            return None
        if new and all(t["status"] == "Failed" for t in new):
            first = new[0].get("failure_reason") or "unknown reason"
            return f"all {len(new)} {noun}(s) failed; first: {first}"
        if launched and self.best() is None:
            return f"no {noun} reported the objective metric {self.spec.objective_metric!r}"
        return None


__all__ = ["RESOURCE_KIND", "TrialBook"]
