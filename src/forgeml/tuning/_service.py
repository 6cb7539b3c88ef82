"""Tuning service (``ws.tuning``): create, inspect, stop and wait for hyperparameter tuning jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import new_name, validate_name
from forgeml.core.records import JobRecord, ResourceRecord
from forgeml.errors import AlreadyExistsError, JobFailedError, NotFoundError, ValidationError
from forgeml.tuning._book import RESOURCE_KIND
from forgeml.tuning._spec import TuningSpec
from forgeml.tuning._warm import check_parents

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.tuning._inprocess import Objective

ENTRYPOINT = "forgeml.tuning._worker:run"
MAX_NAME = 32  # SageMaker's HyperParameterTuningJobName limit; trials add "-NNN"
# what the built-in algorithms report, as "<channel>:<name>" (see forgeml.training._evaluate)
BUILTIN_METRICS = frozenset({
    "logloss", "accuracy", "error", "auc", "f1", "rmse", "mae", "mse", "r2", "msd", "ssd", "mean_anomaly_score",
    # the neural built-ins and PCA (forecasting: SageMaker DeepAR's tuning metrics test:RMSE, test:mean_wQuantileLoss, train:final_loss)
    "ndcg_at_k", "hit_rate_at_k", "reconstruction_mse", "explained_variance_ratio", "loss", "final_loss", "RMSE",
    "mean_wQuantileLoss", "interval_coverage",
})  # fmt: skip


def known_metrics(training: dict[str, Any]) -> set[str] | None:
    """The metrics the tuned training job can report, or None when that cannot be known."""
    if training.get("metric_definitions"):
        return {str(d.get("Name")) for d in training["metric_definitions"] if isinstance(d, dict)}
    if training.get("script"):
        return set()  # a script reports metrics only through its metric definitions
    if training.get("algorithm"):
        channels = training.get("channels") or {}
        return {f"{c}:{m}" for c in channels for m in BUILTIN_METRICS}
    if training.get("metrics"):
        return {str(m) for m in training["metrics"]}
    return None


_ENTRYPOINT_KEYS = {"entrypoint", "config", "max_runtime_seconds", "metrics", "source_bundle"}


def check_training(spec: TuningSpec) -> None:
    """Check the training part of a spec before anything runs.

    For an ``entrypoint`` job: only its known keys. For ``ws.training.create``: only arguments it
    takes, and for a built-in algorithm every static hyperparameter plus each range's bounds (or
    categorical values) pass the algorithm's own hyperparameter validation.

    Raises:
        ValidationError: naming the bad key or hyperparameter.
    """
    import inspect

    training = spec.training
    if "entrypoint" in training:
        bad = sorted(set(training) - _ENTRYPOINT_KEYS)
        if bad:
            raise ValidationError(f"training: unknown key(s) {', '.join(bad)} for an entrypoint job (expected {', '.join(sorted(_ENTRYPOINT_KEYS))})")
        if not isinstance(training["entrypoint"], str) or ":" not in training["entrypoint"]:
            raise ValidationError("training.entrypoint must look like 'package.module:function'")
        return
    from forgeml.training import TrainingService, get_algorithm

    accepted = (set(inspect.signature(TrainingService.plan).parameters) | {"tags"}) - {"self", "name", "hyperparameters", "experiment"}
    bad = sorted(set(training) - accepted)
    if bad:
        raise ValidationError(f"training: unknown key(s) {', '.join(bad)} (expected some of {', '.join(sorted(accepted))})")
    if not training.get("algorithm"):
        return
    algo = get_algorithm(training["algorithm"])
    algo.validate(dict(spec.static_hyperparameters))
    for name, rng in spec.ranges.items():
        samples = list(rng.values) if rng.type == "Categorical" else [rng.min, rng.max]
        for value in samples:
            if rng.type == "Integer" and value is not None:
                value = int(value)
            try:
                algo.validate({**spec.static_hyperparameters, name: value})
            except ValidationError as exc:
                raise ValidationError(f"parameter range {name!r}: {exc}") from None


def bundle_module(ws: Workspace, bundle: str, entrypoint: str) -> str:
    """The file of ``entrypoint``'s module inside an uploaded bundle (the job's worker imports
    it from there, and refuses a module that resolves anywhere else).

    Raises:
        ValidationError, NotFoundError: not a stored folder, or no such module in it.
    """
    from forgeml.core.bundles import folder_digest

    digest = folder_digest(ws, bundle, "training.source_bundle")
    files = ws.artifacts.read_json(digest)["files"]
    module = entrypoint.partition(":")[0].replace(".", "/")
    for candidate in (f"{module}.py", f"{module}/__init__.py"):
        if candidate in files:
            return candidate
    raise ValidationError(f"training.entrypoint: bundle {digest} holds no module {entrypoint.partition(':')[0]!r} ({module}.py)")


class TuningService:
    """Hyperparameter tuning jobs: a ``tuning`` job whose worker runs training jobs as trials."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def _check_inputs(self, spec: TuningSpec) -> None:
        """What the trials will read and run, checked now with the caller's access (the trials
        run in the tuning job's own process, which has the machine's)."""
        training = spec.training
        if "entrypoint" in training and training.get("source_bundle"):
            bundle_module(self.ws, training["source_bundle"], training["entrypoint"])  # uploaded code: the caller's own
        elif "entrypoint" in training:
            self.ws.access.check_entry_point(training["entrypoint"], "training.entrypoint")
        else:
            self.ws.training.check_inputs(training)

    def create(self, name: str | None = None, spec: dict[str, Any] | None = None, *, wait: bool = False, **fields: Any) -> JobRecord:
        """Validate a tuning spec and launch the tuning job.

        Args:
            name: tuning job name, at most 32 characters (generated when omitted).
            spec: the whole spec as a dict (from JSON or YAML); or give its fields as keywords:
                ``strategy``, ``objective``, ``parameter_ranges``, ``static_hyperparameters``,
                ``training``, ``max_jobs``, ``max_parallel_jobs``, ``max_runtime_seconds``,
                ``early_stopping``, ``completion_criteria``, ``hyperband``, ``warm_start``,
                ``random_seed``, ``experiment``.
            wait: block until it ends.

        Raises:
            ValidationError: a bad spec field, named. NotFoundError: a missing warm-start parent.
            AlreadyExistsError: a job of that name exists.
        """
        parsed = TuningSpec.from_dict({**(spec or {}), **fields})
        check_training(parsed)
        metrics = known_metrics(parsed.training)
        if metrics is not None and parsed.objective_metric not in metrics:
            known = ", ".join(sorted(metrics)) or "none: give metric_definitions that capture it from the script's log"
            raise ValidationError(f"objective metric {parsed.objective_metric!r} is not one the training job reports ({known})")
        self._check_inputs(parsed)
        name, stored = self._prepare(name, parsed)
        try:
            job = self.ws.jobs.submit(
                "tuning", ENTRYPOINT, {"spec": stored}, name=name, max_runtime_seconds=parsed.max_runtime_seconds, resumable=True
            )  # a worker that dies is relaunched and picks up its trials (forgeml.tuning._resume)
        except Exception:
            self.ws.metadata.delete_resource(RESOURCE_KIND, name)
            raise
        for parent in parsed.warm_start_parents:
            self.ws.lineage.record(f"job/{parent}", job.ref, "warm-start", name)
        if wait:
            self.wait(name)
            return self.ws.jobs.get(name)
        return job

    def optimize(
        self, fn: Objective, name: str | None = None, spec: dict[str, Any] | None = None, *,
        progress: Callable[[dict[str, Any]], None] | None = None, raise_on_failure: bool = True, **fields: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """Tune a Python function in this process, as Optuna does, recorded as a tuning job.

        ``fn(trial)`` gets a :class:`~forgeml.tuning.Trial` (``params``,
        ``hyperparameters``, ``report(value, step)``, ``log_metric``) and returns the objective
        value, a mapping of metrics holding the objective metric, or None (the last reported
        value). Trials run in ``max_parallel_jobs`` threads; each becomes an experiment run.
        Strategies, ranges, early stopping, completion criteria and warm start are those of
        :meth:`create`; ``training`` is not taken (the function is the training).

        Args:
            fn: the function to tune (its objective metric and direction are ``objective``).
            name: tuning job name (generated when omitted).
            spec: the spec as a dict, or its fields as keywords (see :meth:`create`).
            progress: called with each finished trial's record.
            raise_on_failure: raise when the tuning job ends Failed or Stopped.

        Returns:
            :meth:`describe` of the finished tuning job.

        Raises:
            ValidationError: a bad spec field. JobFailedError: it failed and ``raise_on_failure``.
            KeyboardInterrupt: after recording the job Stopped.
        """
        from forgeml.tuning._inprocess import InProcessTuner

        data = {**(spec or {}), **fields}
        if "training" in data:
            raise ValidationError("optimize tunes the objective function it is given; leave out training (use create for training jobs)")
        label = f"{getattr(fn, '__module__', None) or 'objective'}:{getattr(fn, '__qualname__', type(fn).__name__)}"
        parsed = TuningSpec.from_dict({**data, "training": {"objective": label}})
        name, stored = self._prepare(name, parsed)
        try:
            self.ws.jobs.start_in_process("tuning", label, {"spec": stored, "in_process": True}, name=name)
        except Exception:
            self.ws.metadata.delete_resource(RESOURCE_KIND, name)
            raise
        for parent in parsed.warm_start_parents:
            self.ws.lineage.record(f"job/{parent}", f"job/{name}", "warm-start", name)
        status = InProcessTuner(self.ws, name, parsed, fn, progress=progress).run()
        job = self.ws.jobs.get(name)
        if raise_on_failure and status != "Completed":
            raise JobFailedError(f"tuning job {name!r} {status.lower()}: {job.failure_reason or status}")
        return self.describe(name)

    def _prepare(self, name: str | None, parsed: TuningSpec) -> tuple[str, dict[str, Any]]:
        """Check the name and warm-start parents, and create the ``tuning-job`` resource."""
        name = validate_name(name or new_name("tuning")[:MAX_NAME], "tuning job name")
        if len(name) > MAX_NAME:
            raise ValidationError(f"tuning job name {name!r} is longer than {MAX_NAME} characters")
        if parsed.warm_start_parents:
            check_parents(self.ws, parsed)
        try:
            self.ws.jobs.get(name)
        except NotFoundError:
            pass
        else:
            raise AlreadyExistsError(f"a job named {name!r} already exists")
        self.ws.metadata.delete_resource(RESOURCE_KIND, name)  # leftover of a launch that failed
        stored = parsed.to_dict()
        self.ws.metadata.create_resource(ResourceRecord(kind=RESOURCE_KIND, name=name, version=1, status="Created", spec=stored, data={"trials": []}))
        return name, stored

    # reading ---------------------------------------------------------------------------------
    def _resource(self, name: str) -> ResourceRecord:
        from forgeml.core.refs import name_of

        name = name_of(name, "job")
        try:
            return self.ws.metadata.get_resource(RESOURCE_KIND, name, 1)
        except NotFoundError:
            raise NotFoundError(f"tuning job {name!r} does not exist") from None

    def describe(self, name: str) -> dict[str, Any]:
        """The tuning job: status, spec, counters, trials and best training job
        (SageMaker's DescribeHyperParameterTuningJob, in snake case)."""
        resource = self._resource(name)
        job = self.ws.jobs.get(name)
        data = resource.data
        return {
            "name": name, "status": job.status, "secondary_status": job.secondary_status,
            "failure_reason": job.failure_reason, "strategy": resource.spec.get("strategy"),
            "objective": resource.spec.get("objective"), "spec": resource.spec,
            "counters": data.get("counters", {}), "completion_reason": data.get("completion_reason"),
            "best_training_job": data.get("best_training_job"), "best": data.get("best"),
            "trials": self._live(data.get("trials", [])), "created_at": job.to_dict()["created_at"],
            "ended_at": job.to_dict()["ended_at"],
        }  # fmt: skip

    def trials(self, name: str) -> list[dict[str, Any]]:
        """The trials: one training job each (warm-start parents' trials included, marked by source)."""
        return self._live(self._resource(name).data.get("trials", []))

    def _live(self, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Trials with the status of training jobs that ended after the tuning worker did
        (those it left Stopping when it was stopped)."""
        out = []
        for trial in trials:
            if trial.get("status") == "Stopping":
                try:
                    job = self.ws.jobs.get(trial["training_job"])
                except NotFoundError:
                    pass
                else:
                    if job.is_terminal:
                        trial = {**trial, "status": job.status, "ended_at": job.ended_at}
            out.append(trial)
        return out

    def best_training_job(self, name: str) -> str | None:
        """Name of the best training job so far (across warm-start parents too), or None."""
        return self._resource(name).data.get("best_training_job")

    def list(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Tuning jobs, newest first, with status, counters and best objective."""
        jobs = {j.name: j for j in self.ws.jobs.list(kind="tuning", limit=None)}
        out = []
        for res in self.ws.metadata.list_resources(RESOURCE_KIND, limit=limit):
            job = jobs.get(res.name)
            if job is None:
                continue
            best = res.data.get("best") or {}
            out.append({
                "name": res.name, "status": job.status, "strategy": res.spec.get("strategy"),
                "objective": res.spec.get("objective"), "counters": res.data.get("counters", {}),
                "best_training_job": res.data.get("best_training_job"), "best_objective": best.get("objective"),
                "created_at": job.to_dict()["created_at"],
            })  # fmt: skip
        return out

    # control ---------------------------------------------------------------------------------
    def stop(self, name: str, *, wait: bool = False, timeout: float | None = None) -> JobRecord:
        """Stop the tuning job; its worker stops the training jobs it runs."""
        self._resource(name)
        return self.ws.jobs.stop(name, wait=wait, timeout=timeout)

    def wait(self, name: str, *, timeout: float | None = None, raise_on_failure: bool = True, poll: float = 0.2) -> dict[str, Any]:
        """Block until the tuning job ends; return :meth:`describe`.

        Raises:
            JobFailedError: it ended Failed (or Stopped) and ``raise_on_failure``.
            TimeoutError: ``timeout`` passed first.
        """
        self._resource(name)
        job = self.ws.jobs.wait(name, timeout=timeout, raise_on_failure=False, poll=poll)
        # the worker writes its last record just before its process exits; settle on it
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(t["status"] in ("Pending", "InProgress") for t in self.trials(name)):
            time.sleep(0.1)
        if raise_on_failure and job.status != "Completed":
            raise JobFailedError(f"tuning job {name!r} {job.status.lower()}: {job.failure_reason or job.secondary_status}")
        return self.describe(name)


__all__ = ["BUILTIN_METRICS", "ENTRYPOINT", "RESOURCE_KIND", "TuningService", "known_metrics"]
