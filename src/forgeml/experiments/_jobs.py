"""Runs recorded from jobs: every training job becomes a run of an experiment.

Two paths keep runs in step with training jobs, both idempotent (a job has at most one run,
found by its ``source`` ``job/NAME`` and updated in place):

* :func:`record_training_job`, called by tuning jobs for each trial as it ends (and callable by
  anyone holding a job);
* :func:`sync_training_jobs`, which the experiment service runs before it lists or searches: it
  reads the event log from a stored watermark and records every training job that was created or
  changed status since. So no training code has to know about experiments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forgeml.errors import AlreadyExistsError
from forgeml.experiments._records import RunRecord
from forgeml.experiments._store import RunStore

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
    store: RunStore = ws.experiments.store
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
        try:
            [run_id] = store.create_runs(
                exp,
                [{"name": job.name, "status": status, "kind": "training", "source": job.ref, "metrics_owner": job.ref,
                  "params": params, "tags": tags, "metrics": latest, "artifacts": artifacts,
                  "created_at": job.created_at, "ended_at": job.ended_at}],
            )  # fmt: skip
        except AlreadyExistsError:
            existing = store.find_by_source(job.ref)  # another process recorded it first
            if existing is None:
                raise
        else:
            ws.lineage.record(job.ref, f"run/{exp}/{job.name}", "recorded-as", job.name)
            return store.get_run(run_id)
    store.update_run(existing.id, status=status, ended_at=job.ended_at, artifacts={**existing.artifacts, **artifacts})
    store.set_params(existing.id, params)
    store.set_tags(existing.id, tags)
    store.set_latest_metrics(existing.id, points)
    return store.get_run(existing.id)


SYNC_KIND = "experiments-sync"
SYNC_NAME = "job-events"


def sync_training_jobs(ws: Workspace) -> int:
    """Record training jobs created or changed since the last sync; return how many.

    The watermark (last event id read) lives in a ``experiments-sync`` resource. Concurrent syncs
    are harmless: recording is idempotent and a lost race on a new run is retried as an update.
    """
    from forgeml.core.records import ResourceRecord
    from forgeml.errors import NotFoundError

    store = ws.metadata
    own_ref = f"{SYNC_KIND}/{SYNC_NAME}:1"
    try:
        marker = store.get_resource(SYNC_KIND, SYNC_NAME, 1)
    except NotFoundError:
        try:
            marker = store.create_resource(ResourceRecord(SYNC_KIND, SYNC_NAME, 1, "Active", data={"last_event_id": 0}))
        except AlreadyExistsError:
            marker = store.get_resource(SYNC_KIND, SYNC_NAME, 1)
    last = int(marker.data.get("last_event_id", 0))
    events = store.list_events(after_id=last)
    if not events or all(e.resource == own_ref for e in events):
        return 0
    names = list(dict.fromkeys(e.resource[4:] for e in events if e.resource.startswith("job/")))
    recorded = 0
    for name in names:
        try:
            job = store.get_job(name)
        except NotFoundError:
            continue
        if job.kind != "training":
            continue
        record_training_job(ws, job)
        recorded += 1
    store.update_resource(SYNC_KIND, SYNC_NAME, 1, data={"last_event_id": events[-1].id})
    return recorded


__all__ = ["DEFAULT_EXPERIMENT", "experiment_of", "record_training_job", "sync_training_jobs"]
