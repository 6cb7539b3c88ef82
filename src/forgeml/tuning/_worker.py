"""The tuning job's worker: one Optuna study, asked and told in this process, driving training jobs.

The study lives in memory here (ask/tell), so nothing contends for a study database: each trial
is a training job of its own (its own processes), launched up to ``max_parallel_jobs`` at once.
The worker follows each trial's objective series, reports it to the pruner step by step, stops a
trial through ``ws.jobs.stop`` when the pruner says so, and tells the study the final value. The
trials table and the best training job are kept on the ``tuning-job`` resource as they change.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna

from forgeml.tuning._book import RESOURCE_KIND, TrialBook
from forgeml.tuning._resume import resume_trials
from forgeml.tuning._spec import TuningSpec
from forgeml.tuning._strategies import make_pruner, make_sampler
from forgeml.tuning._warm import load_parents

if TYPE_CHECKING:
    from optuna.trial import Trial

    from forgeml.core.jobs import JobContext

_POLL_MIN_SECONDS = 0.02  # right after something changed: trivial trials end within ~0.1 s
_POLL_MAX_SECONDS = 0.5  # after a quiet spell, doubling from the minimum
_CHECK_SECONDS = 5.0  # how often a running trial's processes are checked for life
_RECORD_EVERY_SECONDS = 2.0  # the tuning job's own run is refreshed at most this often, and at the end


@dataclass
class _Live:
    trial: Trial
    record: dict[str, Any]
    last_step: int = -1
    stop_sent: bool = False
    pruned: bool = False
    next_check: float = field(default_factory=lambda: time.monotonic() + _CHECK_SECONDS)


def run(ctx: JobContext) -> None:
    """Job entrypoint (kind ``tuning``)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    Tuner(ctx).run()


class Tuner:
    """Runs one tuning job inside its worker process."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.ws = ctx.workspace
        self.name = ctx.name
        self.spec = TuningSpec.from_dict(ctx.config["spec"])
        self.experiment = self.spec.experiment or self.name
        direction = optuna.study.StudyDirection.MAXIMIZE if self.spec.maximize else optuna.study.StudyDirection.MINIMIZE
        self.study = optuna.create_study(
            study_name=self.name, direction=direction, sampler=make_sampler(self.spec, ctx.attempt), pruner=make_pruner(self.spec)
        )  # the name seeds Hyperband's bracket assignment: same job name, same brackets
        self.prunes = self.spec.strategy == "Hyperband" or self.spec.early_stopping == "Auto"
        self.distributions = {n: r.distribution() for n, r in self.spec.ranges.items()}
        self.book = TrialBook(self.spec)
        self.running: dict[str, _Live] = {}
        self.stop_requested = False
        self.warmed = False
        self.recorded_at = 0.0
        self.ws.jobs.fork_launches()  # trials' supervisors are forked from this process

    # main loop -------------------------------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        parents = load_parents(self.ws, self.spec, self.study)
        self.book.trials.extend(parents)
        budget = self.spec.max_jobs - len(parents)
        if self.spec.strategy == "Grid":
            budget = min(budget, self.spec.grid_size())
        self.ctx.log(f"[tuning] {self.spec.strategy} search: {budget} training job(s), {self.spec.max_parallel_jobs} at a time, objective {self.spec.objective_type} {self.spec.objective_metric}" + (f", {len(parents)} warm-start trial(s)" if parents else ""))
        launched = resume_trials(self) if self.ctx.attempt > 1 else 0
        self._persist()
        self._record_self()
        quiet = 0
        while True:
            if self.stop_requested:
                self._stop_all("Stopped")
                break
            busy = False
            while self.book.completion_reason is None and launched < budget and len(self.running) < self.spec.max_parallel_jobs:
                launched += 1
                self._launch(launched)
                busy = True
            for name in list(self.running):
                busy = self._poll(name) or busy
            if not self.running and (launched >= budget or self.book.completion_reason is not None):
                break
            quiet = 0 if busy else quiet + 1
            time.sleep(min(_POLL_MIN_SECONDS * 2**quiet, _POLL_MAX_SECONDS))
        self._finish(launched)

    def _on_term(self, _sig: int, _frame: object) -> None:
        self.stop_requested = True

    # trials ----------------------------------------------------------------------------------
    def _launch(self, number: int) -> None:
        trial = self.study.ask(self.distributions)
        params = {n: r.to_value(trial.params[n]) for n, r in self.spec.ranges.items()}
        hyperparameters = {**self.spec.static_hyperparameters, **params}
        job_name = f"{self.name}-{number:03d}"
        record: dict[str, Any] = {
            "number": number, "training_job": job_name, "status": "Pending", "objective": None,
            "params": params, "source": "new", "early_stopped": False, "created_at": time.time(),
            "ended_at": None, "failure_reason": None, "optuna_trial": trial.number,
        }  # fmt: skip
        self.book.trials.append(record)
        try:
            self._submit(job_name, hyperparameters)
        except Exception as exc:  # a trial that cannot start is a failed trial, not a failed tuning job
            record.update(status="Failed", failure_reason=f"{type(exc).__name__}: {exc}", ended_at=time.time())
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.ctx.log(f"[tuning] {job_name} could not start: {exc}")
        else:
            record["status"] = "InProgress"
            self.follow(trial, record)
            self.ctx.log(f"[tuning] {job_name} started: {params}")
        self._persist()

    def follow(self, trial: Trial, record: dict[str, Any]) -> None:
        """Follow a running training job as the study's ``trial``."""
        trial.set_user_attr("training_job", record["training_job"])
        record["optuna_trial"] = trial.number
        self.running[record["training_job"]] = _Live(trial, record)

    def _submit(self, job_name: str, hyperparameters: dict[str, Any]) -> None:
        training = dict(self.spec.training)
        if "entrypoint" in training:
            entrypoint = training.pop("entrypoint")
            config = {**dict(training.pop("config", None) or {}), "hyperparameters": hyperparameters,
                      "experiment": self.experiment, "tuning_job": self.name}  # fmt: skip
            inputs = []
            if training.get("source_bundle"):  # the entrypoint is a module of an uploaded folder
                config["code_bundle"] = str(training.pop("source_bundle")).removeprefix("artifact/")
                inputs.append(f"artifact/{config['code_bundle']}")
            self.ws.jobs.submit("training", entrypoint, config, name=job_name, inputs=inputs,
                                max_runtime_seconds=training.pop("max_runtime_seconds", None))  # fmt: skip
        else:
            self.ws.training.create(job_name, **training, hyperparameters=hyperparameters, experiment=self.experiment, wait=False)
        if not self.warmed:  # later trials' supervisors are forked with the entrypoint imported
            self.warmed = True
            with contextlib.suppress(Exception):
                importlib.import_module(self.ws.jobs.get(job_name).entrypoint.partition(":")[0])

    def _poll(self, name: str) -> bool:
        """Follow one trial's objective series; return whether anything new came."""
        live = self.running[name]
        seen = live.last_step
        if time.monotonic() >= live.next_check:  # settle a trial whose processes vanished
            live.next_check = time.monotonic() + _CHECK_SECONDS
            job = self.ws.jobs.refresh(name)
        else:
            job = self.ws.jobs.get(name)
        points = self.ws.metadata.get_metrics(job.ref, self.spec.objective_metric)
        for point in points:
            if point.step <= live.last_step:
                continue
            live.last_step = point.step
            live.record["objective"] = point.value
            if job.is_terminal or live.stop_sent:
                continue
            live.trial.report(point.value, point.step)
            if self.prunes and live.trial.should_prune():
                live.pruned = live.stop_sent = True
                live.record.update(early_stopped=True, stopped_at_step=point.step)
                self.ctx.log(f"[tuning] {name}: early stop at step {point.step} (objective {point.value:g})")
                self._stop_job(name)
        if job.is_terminal:
            self._settle(name, job)
            return True
        return live.last_step != seen

    def _settle(self, name: str, job: Any) -> None:
        live = self.running.pop(name)
        points = self.ws.metadata.get_metrics(job.ref, self.spec.objective_metric)
        value = points[-1].value if points else None
        if points:
            best_step = max(p.step for p in points)
            value = [p.value for p in points if p.step == best_step][-1]
        record = live.record
        record.update(status=job.status, objective=value, ended_at=job.ended_at or time.time(), failure_reason=job.failure_reason)
        states = optuna.trial.TrialState
        if live.pruned and job.status == "Stopped":
            record["status"] = "Stopped"
            self.study.tell(live.trial, state=states.PRUNED)
        elif job.status == "Completed" and value is not None:
            self.study.tell(live.trial, value)
            self._after_completed(record)
        else:
            if job.status == "Completed":
                record.update(status="Failed", failure_reason=f"objective metric {self.spec.objective_metric!r} was never reported")
            self.study.tell(live.trial, state=states.FAIL)
        self._record_run(job, record)
        self.ctx.log(f"[tuning] {name} {record['status']}: objective {value}")
        self._persist()
        if time.monotonic() - self.recorded_at >= _RECORD_EVERY_SECONDS:
            self._record_self()

    def _after_completed(self, record: dict[str, Any]) -> None:
        best = self.book.best()
        self.ctx.log_metric("best_objective", best["objective"] if best else record["objective"], step=record["number"])
        reason = self.book.completed(record)
        if reason is not None:
            self.ctx.log(f"[tuning] completion criterion met: {reason}; stopping the remaining training jobs")
            self._stop_all(reason)

    def _stop_job(self, name: str) -> None:
        try:
            self.ws.jobs.stop(name)
        except Exception as exc:  # it may have ended between our poll and the stop
            self.ctx.log(f"[tuning] could not stop {name}: {exc}")

    def _stop_all(self, why: str) -> None:
        for name, live in self.running.items():
            if not live.stop_sent:
                live.stop_sent = True
                live.record["stop_reason"] = why
                self._stop_job(name)

    def _record_self(self) -> None:
        """The tuning job's own run (kind ``tuning``): spec as params, best objective, best job."""
        from forgeml.experiments import record_training_job

        self.recorded_at = time.monotonic()
        try:
            record_training_job(self.ws, self.ws.jobs.get(self.name), experiment=self.experiment)
        except Exception as exc:  # a convenience, as for the trials
            self.ctx.log(f"[tuning] could not record the tuning run: {exc}")

    def _record_run(self, job: Any, record: dict[str, Any]) -> None:
        from forgeml.experiments import record_training_job

        try:
            run = record_training_job(self.ws, self.ws.jobs.get(job.name), experiment=self.experiment)
            self.ws.experiments.set_tags(run.id, {"tuning_job": self.name, "trial": record["number"], "early_stopped": record["early_stopped"]})
            record["run"] = run.key
        except Exception as exc:  # the experiment record is a convenience; never fail the tuning for it
            self.ctx.log(f"[tuning] could not record run for {job.name}: {exc}")

    # results ---------------------------------------------------------------------------------
    def best(self) -> dict[str, Any] | None:
        return self.book.best()

    def _persist(self) -> None:
        self.book.persist(self.ws, self.name)

    def _finish(self, launched: int) -> None:
        # trials still stopping when SIGTERM came are settled by the training jobs themselves
        for name, live in self.running.items():
            live.record["status"] = "Stopping"
            self.ctx.log(f"[tuning] {name} left stopping")
        self._persist()
        self._record_self()
        best = self.best()
        if best is not None:
            self.ctx.log(f"[tuning] best training job {best['training_job']}: {self.spec.objective_metric} = {best['objective']:g}")
            self.ctx.add_output(f"job/{best['training_job']}")
        failure = self.book.failure(stopped=self.stop_requested, launched=launched, noun="training job")
        if failure is not None:
            raise RuntimeError(failure)


__all__ = ["RESOURCE_KIND", "Tuner", "run"]
