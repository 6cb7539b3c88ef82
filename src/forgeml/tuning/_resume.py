"""Resuming a tuning job whose worker was interrupted (a killed process, a machine restart).

A tuning job is submitted resumable: when its supervisor disappears, reconcile relaunches it (at
most three attempts) and the new worker calls :func:`resume_trials` before asking for anything.
The trials table on the ``tuning-job`` resource is the record of what ran: completed trials enter
the new study with their objective (so the sampler learns from them), failed and stopped ones
enter as failed, and trials whose training jobs were still running (they run in processes of
their own, which the interruption did not touch) are followed again. A training job started just
before the interruption but not yet in the table is found by its name and followed too, and one
that was stored but whose supervisor never started is launched now. Every trial already run
counts against ``max_jobs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna

from forgeml.errors import NotFoundError
from forgeml.tuning._book import RESOURCE_KIND

if TYPE_CHECKING:
    from forgeml.tuning._worker import Tuner

_ACTIVE = ("Pending", "InProgress", "Stopping")


def resume_trials(tuner: Tuner) -> int:
    """Bring back the trials an earlier attempt ran; return how many there were."""
    stored = tuner.ws.metadata.get_resource(RESOURCE_KIND, tuner.name, 1).data.get("trials", [])
    previous = [dict(t) for t in stored if t.get("source") == "new"]
    previous += _orphans(tuner, len(previous))
    for record in previous:
        tuner.book.trials.append(record)
        params, distributions = _internal(tuner, record)
        if record["status"] in _ACTIVE:
            tuner.ws.jobs.launch_if_orphaned(record["training_job"])  # stored, but killed before it started
            tuner.study.enqueue_trial(params, skip_if_exists=False)
            tuner.follow(tuner.study.ask(tuner.distributions), record)
        elif record["status"] == "Completed" and record.get("objective") is not None:
            tuner.study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=float(record["objective"])))
            tuner.book.completed(record)
        else:
            tuner.study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, state=optuna.trial.TrialState.FAIL))
    tuner.ctx.log(f"[tuning] resumed (attempt {tuner.ctx.attempt}): {len(previous)} trial(s) already started, {len(tuner.running)} still running")
    return len(previous)


def _internal(tuner: Tuner, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    params, distributions = {}, {}
    for name, rng in tuner.spec.ranges.items():
        if name in record["params"]:
            params[name] = rng.to_internal(record["params"][name])
            distributions[name] = rng.distribution()
    return params, distributions


def _orphans(tuner: Tuner, known: int) -> list[dict[str, Any]]:
    """Training jobs launched after the table was last written: the next numbers, if their jobs exist."""
    found = []
    number = known + 1
    while True:
        job_name = f"{tuner.name}-{number:03d}"
        try:
            job = tuner.ws.jobs.get(job_name)
        except NotFoundError:
            return found
        hyperparameters = job.config.get("hyperparameters") or {}
        found.append({
            "number": number, "training_job": job_name, "status": "InProgress", "objective": None,
            "params": {n: hyperparameters[n] for n in tuner.spec.ranges if n in hyperparameters},
            "source": "new", "early_stopped": False, "created_at": job.created_at, "ended_at": None,
            "failure_reason": None,
        })  # fmt: skip
        number += 1


__all__ = ["resume_trials"]
