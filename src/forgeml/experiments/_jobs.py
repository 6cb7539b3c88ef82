"""Runs recorded from jobs: every training job becomes a run of an experiment.

The training service calls :func:`record_training_job` when a job ends (and may call it when it
starts); tuning jobs call it for each of their trials. The call is idempotent: a job has at most
one run (found by its ``source``, ``job/NAME``), updated in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forgeml.experiments._records import RunRecord

if TYPE_CHECKING:
    from forgeml.core.records import JobRecord
    from forgeml.core.workspace import Workspace

DEFAULT_EXPERIMENT = "default"


def experiment_of(job: JobRecord) -> str:
    """The experiment a job's run belongs to: ``config["experiment"]``, its tuning job, or ``default``."""
    config = job.config
    return str(config.get("experiment") or config.get("tuning_job") or DEFAULT_EXPERIMENT)


def record_training_job(ws: Workspace, job: JobRecord | str, *, experiment: str | None = None) -> RunRecord:
    """Create or refresh the run of a training job: hyperparameters, metrics, status, artifacts.

    Args:
        ws: the workspace.
        job: the job record or its name.
        experiment: overrides :func:`experiment_of`.

    Returns:
        The run as stored (named after the job).
    """
    if isinstance(job, str):
        job = ws.jobs.get(job)
    service = ws.experiments
    store = service.store
    status = "InProgress" if job.status == "Pending" else job.status
    config: dict[str, Any] = job.config
    params = {str(k): v for k, v in (config.get("hyperparameters") or {}).items()}
    tags = {"job": job.name, "job_kind": job.kind}
    for key in ("algorithm", "tuning_job", "script"):
        if config.get(key):
            tags[key] = str(config[key])
    artifacts = {f"input:{ref}": {"ref": ref, "is_output": False} for ref in job.inputs}
    artifacts.update({f"output:{ref}": {"ref": ref, "is_output": True} for ref in job.outputs})
    points = [(m.key, m.value, m.step, m.timestamp) for m in ws.metadata.get_metrics(job.ref)]
    existing = store.find_by_source(job.ref)
    if existing is None:
        exp = experiment or experiment_of(job)
        latest: dict[str, tuple[float, int, float]] = {}
        for key, value, step, ts in points:
            if key not in latest or step >= latest[key][1]:
                latest[key] = (value, step, ts)
        [run_id] = store.create_runs(
            exp,
            [{"name": job.name, "status": status, "kind": "training", "source": job.ref, "metrics_owner": job.ref,
              "params": params, "tags": tags, "metrics": latest, "artifacts": artifacts,
              "created_at": job.created_at, "ended_at": job.ended_at}],
        )  # fmt: skip
        ws.lineage.record(job.ref, f"run/{exp}/{job.name}", "recorded-as", job.name)
        return store.get_run(run_id)
    store.update_run(existing.id, status=status, ended_at=job.ended_at, artifacts={**existing.artifacts, **artifacts})
    store.set_params(existing.id, params)
    store.set_tags(existing.id, tags)
    store.set_latest_metrics(existing.id, points)
    return store.get_run(existing.id)


__all__ = ["DEFAULT_EXPERIMENT", "experiment_of", "record_training_job"]
