"""Runs recorded from jobs: every training and tuning job becomes a run of an experiment.

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

from forgeml.errors import AlreadyExistsError, NotFoundError
from forgeml.experiments._records import RunRecord
from forgeml.experiments._store import RunStore

if TYPE_CHECKING:
    from forgeml.core.records import JobRecord
    from forgeml.core.workspace import Workspace

DEFAULT_EXPERIMENT = "default"


def experiment_of(job: JobRecord) -> str:
    """The experiment a job's run belongs to: ``config["experiment"]`` (for a tuning job, its
    spec's ``experiment``), its tuning job, the tuning job itself, or ``default``."""
    config = job.config
    if job.kind == "tuning":
        return str((config.get("spec") or {}).get("experiment") or job.name)
    return str(config.get("experiment") or config.get("tuning_job") or DEFAULT_EXPERIMENT)


def _tuning_params(spec: dict[str, Any]) -> dict[str, Any]:
    objective = spec.get("objective") or {}
    params: dict[str, Any] = {
        "strategy": spec.get("strategy"), "objective_metric": objective.get("metric"),
        "objective_type": objective.get("type"), "max_jobs": spec.get("max_jobs"),
        "max_parallel_jobs": spec.get("max_parallel_jobs"), "early_stopping": spec.get("early_stopping"),
        "random_seed": spec.get("random_seed"),
    }  # fmt: skip
    for name, rng in (spec.get("parameter_ranges") or {}).items():
        if rng.get("type") == "Categorical":
            params[f"range:{name}"] = ",".join(map(str, rng.get("values", [])))
        else:
            params[f"range:{name}"] = f"{rng.get('type')} [{rng.get('min')}, {rng.get('max')}] {rng.get('scaling', 'Auto')}"
    params.update({f"static:{k}": v for k, v in (spec.get("static_hyperparameters") or {}).items()})
    return {k: v for k, v in params.items() if v is not None}


def record_training_job(ws: Workspace, job: JobRecord | str, *, experiment: str | None = None) -> RunRecord:
    """Create or refresh the run of a training (or tuning) job: parameters, metrics, status, artifacts.

    A training job's run holds its hyperparameters; a tuning job's run (kind ``tuning``) holds its
    strategy, objective, limits and ranges as parameters, its ``best_objective`` series, and the
    best training job as a tag.

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
    tags = {"job": job.name, "job_kind": job.kind}
    if job.kind == "tuning":
        params = _tuning_params(config.get("spec") or {})
        try:
            best = ws.metadata.get_resource("tuning-job", job.name, 1).data.get("best_training_job")
        except NotFoundError:
            best = None
        if best:
            tags["best_training_job"] = best
    else:
        params = {str(k): v for k, v in (config.get("hyperparameters") or {}).items()}
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
        kind = "tuning" if job.kind == "tuning" else "training"
        try:
            [run_id] = store.create_runs(
                exp,
                [{"name": job.name, "status": status, "kind": kind, "source": job.ref, "metrics_owner": job.ref,
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
    """Record training and tuning jobs created or changed since the last sync; return how many.

    The watermark (last event id read) lives in a ``experiments-sync`` resource. Concurrent syncs
    are harmless: recording is idempotent and a lost race on a new run is retried as an update.
    """
    from forgeml.core.records import ResourceRecord

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
        if job.kind not in ("training", "tuning"):
            continue
        record_training_job(ws, job)
        recorded += 1
    store.update_resource(SYNC_KIND, SYNC_NAME, 1, data={"last_event_id": events[-1].id})
    return recorded


__all__ = ["DEFAULT_EXPERIMENT", "experiment_of", "record_training_job", "sync_training_jobs"]
