"""In-process tuning: the study and its trials run in the caller's process, as Optuna's do.

``ws.tuning.optimize(objective, ...)`` takes a Python function instead of a training job. Trials
run in ``max_parallel_jobs`` threads of the calling process (Optuna's ``n_jobs``), so a trial
costs a function call, not two processes. What a tuning job records is kept: a ``tuning`` job
(InProgress, then Completed, Failed or Stopped), the ``tuning-job`` resource with its trials
table, best trial and counters, and one experiment run per trial (parameters, the objective
and every reported metric as a series, tags ``tuning_job``, ``trial``, ``early_stopped``).

Trials are written behind, in batches: a trial's run lands within ``FLUSH_SECONDS`` of its end
(at once when trials are slower than that), always before ``optimize`` returns, in one
transaction per batch. Early stopping (``Auto``, the SageMaker median rule) and Hyperband act on
what the objective reports through :meth:`Trial.report`.

The objective's contract: ``objective(trial) -> float | Mapping[str, float] | None`` — the
objective value, or metrics including the objective metric, or None to use the last value
reported with :meth:`Trial.report`. An exception fails that trial (not the tuning job).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna

from forgeml.errors import ForgeError
from forgeml.tuning._book import TrialBook
from forgeml.tuning._strategies import make_pruner, make_sampler
from forgeml.tuning._warm import load_parents

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.tuning._spec import TuningSpec

FLUSH_SECONDS = 1.0
STOP_POLL_SECONDS = 0.5


class TrialStopped(ForgeError):
    """Raised by :meth:`Trial.report` when early stopping ends the trial; let it propagate."""


@dataclass
class Trial:
    """One trial of an in-process tuning job, handed to the objective.

    Attributes:
        number: 1-based trial number.
        params: the sampled values of the tuned parameters.
        hyperparameters: static hyperparameters merged with ``params`` (what a training job gets).
    """

    number: int
    params: dict[str, Any]
    hyperparameters: dict[str, Any]
    _optuna: optuna.trial.Trial
    _objective_metric: str
    _prunes: bool
    _record: dict[str, Any] = field(default_factory=dict)  # its row in the trials table
    _series: list[tuple[str, float, int, float]] = field(default_factory=list)

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        """Record a metric point on the trial's run."""
        self._series.append((str(key), float(value), int(step), time.time()))

    def report(self, value: float, step: int) -> None:
        """Report the objective metric at ``step``; raises :class:`TrialStopped` when early
        stopping (median rule or Hyperband) ends this trial here."""
        self.log_metric(self._objective_metric, value, step)
        self._optuna.report(float(value), int(step))
        if self._prunes and self._optuna.should_prune():
            raise TrialStopped(f"trial {self.number} stopped early at step {step}")

    def last(self, key: str) -> float | None:
        """The value at the highest step reported for ``key`` (the last one reported there), or None."""
        points = [p for p in self._series if p[0] == key]
        if not points:
            return None
        top = max(p[2] for p in points)
        return [p[1] for p in points if p[2] == top][-1]


Objective = Callable[[Trial], "float | Mapping[str, float] | None"]


class InProcessTuner:
    """Runs one tuning job's study in this process, trials in threads."""

    def __init__(self, ws: Workspace, name: str, spec: TuningSpec, objective: Objective, *, progress: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.ws, self.name, self.spec, self.objective, self.progress = ws, name, spec, objective, progress
        self.experiment = spec.experiment or name
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        direction = optuna.study.StudyDirection.MAXIMIZE if spec.maximize else optuna.study.StudyDirection.MINIMIZE
        self.study = optuna.create_study(study_name=name, direction=direction, sampler=make_sampler(spec), pruner=make_pruner(spec))
        self.prunes = spec.strategy == "Hyperband" or spec.early_stopping == "Auto"
        self.distributions = {n: r.distribution() for n, r in spec.ranges.items()}
        self.book = TrialBook(spec)
        self.lock = threading.Lock()
        self.pending: list[dict[str, Any]] = []  # finished trials' runs not yet written
        self.job_points: list[tuple[str, float, int, float]] = []  # the job's best_objective series, not yet written
        self.last_flush = time.monotonic()
        self.next_stop_poll = time.monotonic() + STOP_POLL_SECONDS
        self.deadline = None if spec.max_runtime_seconds is None else time.monotonic() + spec.max_runtime_seconds
        self.stop_reason: str | None = None
        self.launched = 0
        self.budget = 0

    # main loop -------------------------------------------------------------------------------
    def run(self) -> str:
        """Run the study to its end; return the final status (Completed, Failed or Stopped)."""
        parents = load_parents(self.ws, self.spec, self.study)
        self.book.trials.extend(parents)
        self.budget = self.spec.max_jobs - len(parents)
        if self.spec.strategy == "Grid":
            self.budget = min(self.budget, self.spec.grid_size())
        pool = ThreadPoolExecutor(self.spec.max_parallel_jobs, thread_name_prefix=f"tune-{self.name}")
        try:
            for future in [pool.submit(self._work) for _ in range(self.spec.max_parallel_jobs)]:
                future.result()
        except BaseException as exc:  # Ctrl-C, or the store failing under a trial's bookkeeping
            self.stop_reason = self.stop_reason or "Stopped"  # no new trial starts; running ones finish
            pool.shutdown(wait=True)
            if isinstance(exc, Exception):
                self._close("Failed", f"{type(exc).__name__}: {exc}")
            else:
                self._close("Stopped", "interrupted")
            raise
        pool.shutdown(wait=True)
        failure = self.book.failure(stopped=self.stop_reason is not None, launched=self.launched)
        status = "Stopped" if self.stop_reason else ("Failed" if failure else "Completed")
        self._close(status, failure or (self.stop_reason if status == "Stopped" else None))
        return status

    def _work(self) -> None:
        while True:
            with self.lock:
                if not self._may_launch():
                    return
                self.launched += 1
                trial = self._ask(self.launched)
            outcome = self._evaluate(trial)
            with self.lock:
                self._settle(trial, *outcome)

    def _may_launch(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.stop_reason = self.stop_reason or "MaxRuntimeExceeded"
        elif time.monotonic() >= self.next_stop_poll:
            self.next_stop_poll = time.monotonic() + STOP_POLL_SECONDS
            if self.ws.jobs.get(self.name).status == "Stopping":
                self.stop_reason = "Stopped"
        return self.stop_reason is None and self.book.completion_reason is None and self.launched < self.budget

    # trials ----------------------------------------------------------------------------------
    def _ask(self, number: int) -> Trial:
        trial = self.study.ask(self.distributions)
        params = {n: r.to_value(trial.params[n]) for n, r in self.spec.ranges.items()}
        record: dict[str, Any] = {
            "number": number, "training_job": None, "run": f"{self.experiment}/{self._run_name(number)}",
            "status": "InProgress", "objective": None, "params": params, "source": "new", "early_stopped": False,
            "created_at": time.time(), "ended_at": None, "failure_reason": None, "optuna_trial": trial.number,
        }  # fmt: skip
        self.book.trials.append(record)
        hyperparameters = {**self.spec.static_hyperparameters, **params}
        return Trial(number, params, hyperparameters, trial, self.spec.objective_metric, self.prunes, record)

    def _run_name(self, number: int) -> str:
        return f"{self.name}-{number:03d}"

    def _evaluate(self, trial: Trial) -> tuple[str, float | None, str | None]:
        """Call the objective: (status, objective value, failure reason)."""
        metric = self.spec.objective_metric
        try:
            result = self.objective(trial)
        except TrialStopped:
            return "Stopped", trial.last(metric), None
        except Exception as exc:  # a failing trial fails alone, as a training job would
            return "Failed", None, f"{type(exc).__name__}: {exc}"
        if isinstance(result, Mapping):
            for key, value in result.items():
                trial.log_metric(str(key), float(value), max((p[2] for p in trial._series), default=0))
            result = result.get(metric)
        elif result is not None and not isinstance(result, bool) and isinstance(result, int | float):
            trial.log_metric(metric, float(result), max((p[2] for p in trial._series if p[0] == metric), default=0))
        elif result is not None:
            return "Failed", None, f"the objective returned {type(result).__name__}; expected a number, a mapping of metrics or None"
        value = trial.last(metric)
        if value is None or not math.isfinite(value):
            return "Failed", None, f"objective metric {metric!r} was never reported" if value is None else f"objective {value} is not finite"
        return "Completed", value, None

    def _settle(self, trial: Trial, status: str, value: float | None, reason: str | None) -> None:
        record = trial._record
        record.update(status=status, objective=value, ended_at=time.time(), failure_reason=reason)
        states = optuna.trial.TrialState
        if status == "Completed":
            self.study.tell(trial._optuna, value)
            self.book.completed(record)
            best = self.book.best()
            self.job_points.append(("best_objective", best["objective"] if best else value, trial.number, time.time()))
        elif status == "Stopped":
            record.update(early_stopped=True, stopped_at_step=max((p[2] for p in trial._series), default=0))
            self.study.tell(trial._optuna, state=states.PRUNED)
        else:
            self.study.tell(trial._optuna, state=states.FAIL)
        self.pending.append(self._run_row(trial, record))
        if self.progress is not None:
            self.progress(dict(record))
        if time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self._flush()

    def _run_row(self, trial: Trial, record: dict[str, Any]) -> dict[str, Any]:
        latest: dict[str, tuple[float, int, float]] = {}
        for key, value, step, ts in trial._series:
            if key not in latest or step >= latest[key][1]:
                latest[key] = (value, step, ts)
        return {
            "name": self._run_name(trial.number), "status": record["status"], "kind": "trial", "source": None,
            "metrics_owner": f"run/{record['run']}", "params": trial.hyperparameters, "metrics": latest,
            "series": trial._series, "created_at": record["created_at"], "ended_at": record["ended_at"],
            "tags": {"tuning_job": self.name, "trial": trial.number, "early_stopped": record["early_stopped"]},
        }  # fmt: skip

    # persistence -----------------------------------------------------------------------------
    def _flush(self) -> None:
        rows, self.pending = self.pending, []
        points, self.job_points = self.job_points, []
        if rows:
            self.ws.experiments.store.create_runs(self.experiment, rows, series=True)
        if points:
            self.ws.metadata.log_metrics(f"job/{self.name}", points)
        self.book.persist(self.ws, self.name)
        self.last_flush = time.monotonic()

    def _close(self, status: str, reason: str | None) -> None:
        with self.lock:
            for record in self.book.trials:
                if record["status"] == "InProgress":  # interrupted mid-trial
                    record.update(status="Stopped", ended_at=time.time())
            self._flush()
        job = self.ws.jobs.finish_in_process(self.name, status, failure_reason=reason if status != "Completed" else None)
        from forgeml.experiments import record_training_job

        record_training_job(self.ws, job, experiment=self.experiment)  # the tuning job's own run


__all__ = ["FLUSH_SECONDS", "InProcessTuner", "Objective", "Trial", "TrialStopped"]
