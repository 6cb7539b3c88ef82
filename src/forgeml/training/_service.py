"""The training service (``ws.training``): create, inspect, stop and wait for training jobs."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Required, TypedDict, Unpack

from forgeml.core.jobs import validate_name
from forgeml.core.records import JobRecord, MetricRecord, ResourceRecord
from forgeml.errors import AlreadyExistsError, ConflictError, NotFoundError, ValidationError
from forgeml.training._algorithms import ALGORITHMS, get_algorithm
from forgeml.training._channels import resolve_channels
from forgeml.training._rules import normalize_rules
from forgeml.training._runtime import KIND

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

MAX_RUNTIME_LIMIT = 28 * 24 * 3600  # SageMaker's StoppingCondition maximum
DEFAULT_MAX_RUNTIME = 24 * 3600  # SageMaker's default: one day
_IGNORE = shutil.ignore_patterns(".git", "__pycache__", ".venv", "venv", "*.pyc", ".mypy_cache", ".pytest_cache")


def _check_metric_definitions(defs: list[dict[str, str]] | None) -> list[dict[str, str]]:
    out = []
    for i, d in enumerate(defs or []):
        if not isinstance(d, dict) or not isinstance(d.get("Name"), str) or not isinstance(d.get("Regex"), str):
            raise ValidationError(f"metric_definitions[{i}] must be {{'Name': str, 'Regex': str}}, got {d!r}")
        try:
            pattern = re.compile(d["Regex"])
        except re.error as exc:
            raise ValidationError(f"metric_definitions[{i}] ({d['Name']}): invalid regex: {exc}") from None
        if pattern.groups < 1:
            raise ValidationError(f"metric_definitions[{i}] ({d['Name']}): the regex needs a group capturing the value")
        out.append({"Name": d["Name"], "Regex": d["Regex"]})
    return out


def _json_scalar(name: str, value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, dict)):
        import json

        try:
            json.dumps(value)
        except (TypeError, ValueError):
            pass
        else:
            return value
    raise ValidationError(f"hyperparameter {name!r} must be a string, number, bool, list or dict, got {type(value).__name__}")


class TrainingRequest(TypedDict, total=False):
    """What a training job is asked to do: the keyword arguments of :meth:`TrainingService.plan`
    (and of :meth:`TrainingService.create`, which adds ``wait`` and ``tags``)."""

    algorithm: str | None
    script: str | None
    source_dir: str | None
    source_bundle: str | None
    hyperparameters: dict[str, Any] | None
    channels: Required[dict[str, Any]]
    target: str | None
    metric_definitions: list[dict[str, str]] | None
    max_runtime_seconds: float | None
    checkpoint: bool
    recipe: dict[str, Any] | None
    experiment: str | None
    seed: int
    features: list[str] | None
    rules: list[Any] | None
    cpus: int | None
    network_isolation: bool
    checkpoint_interval_seconds: float


class TrainingService:
    """Training jobs: built-in algorithms and script mode, on the core job system.

    Args:
        workspace: the workspace whose job system, stores and datasets the jobs use.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    # create ----------------------------------------------------------------------------------
    def create(
        self, name: str | None = None, *, wait: bool = False, tags: dict[str, str] | None = None, **request: Unpack[TrainingRequest]
    ) -> JobRecord:
        """Validate a training request, then launch it as a ``training`` job.

        Everything is checked before anything is stored: the algorithm or script, every
        hyperparameter (name, type, range), the channels (datasets are pinned to a version), the
        target and feature columns, metric definitions and debugger rules. The request's fields
        are :meth:`plan`'s keyword arguments (:class:`TrainingRequest`).

        Args:
            name: the job name (generated when omitted).
            algorithm: a built-in algorithm (see :meth:`algorithms`); or give ``script``.
            script: path of a SageMaker script-mode ``train.py`` (relative to ``source_dir`` or
                ``source_bundle`` if given).
            source_dir: folder holding the script and optionally a ``requirements.txt``.
            source_bundle: instead of ``source_dir``, an uploaded folder (``POST /bundles``) by
                digest (``artifact/<sha256>``); how code reaches a server over the network.
            hyperparameters: built-ins: checked against the algorithm; scripts: passed as-is.
            channels: channel name -> ``dataset/NAME[:VERSION]`` or a local file/folder path (or
                ``{"source": ..., "content_type": "text/csv"}`` to hand a dataset to a script as CSV).
            target: the label column (built-ins; optional for scripts, used to package their model).
            metric_definitions: ``[{"Name", "Regex"}]`` applied to each log line of a script.
            max_runtime_seconds: stopping condition (default one day, at most 28 days).
            checkpoint: make the job resumable from its last checkpoint after an interruption.
            recipe: a preparation recipe spec fitted on the train channel and packaged with the model.
            experiment: experiment to log the run into (kept in the job config).
            seed: random seed of the algorithm (and ``SM_HP``-free ``FORGEML_SEED`` for scripts).
            wait: block until the job ends (raises JobFailedError unless it completed).
            features: input columns for built-ins (default: every column but the target).
            rules: debugger rules, names or ``{"rule", "parameters", "actions": ["StopTraining"]}``.
            cpus: CPUs for the job (threads of the algorithm, ``SM_NUM_CPUS``); default all.
            network_isolation: run a script without network access (Linux ``unshare --net``).
            checkpoint_interval_seconds: at most one checkpoint sync per this many seconds.
            tags: free-form tags on the training-job record.

        Raises:
            ValidationError: any bad argument, naming it and the allowed values.
            NotFoundError: a dataset, path or script that does not exist.
            AlreadyExistsError: a job of that name exists.
        """
        plan = self.plan(name, **request)
        name, config = plan["name"], plan["config"]
        self.ws.metadata.create_resource(ResourceRecord(
            kind=KIND, name=name, version=1, status="Created", tags=tags or {},
            spec={k: v for k, v in config.items() if k != "channels"}
            | {"channels": {k: v.get("ref") or v.get("path") for k, v in config["channels"].items()}},
            data={"secondary_status_transitions": []},
        ))  # fmt: skip
        try:
            job = self.ws.jobs.submit(
                "training", plan["entrypoint"], config, name=name, max_runtime_seconds=plan["max_runtime_seconds"],
                resumable=plan["resumable"],
            )  # fmt: skip
        except Exception:
            self.ws.metadata.delete_resource(KIND, name)
            raise
        if wait:
            return self.wait(name)
        return job

    def plan(
        self,
        name: str | None = None,
        *,
        algorithm: str | None = None,
        script: str | None = None,
        source_dir: str | None = None,
        source_bundle: str | None = None,
        hyperparameters: dict[str, Any] | None = None,
        channels: dict[str, Any],
        target: str | None = None,
        metric_definitions: list[dict[str, str]] | None = None,
        max_runtime_seconds: float | None = None,
        checkpoint: bool = False,
        recipe: dict[str, Any] | None = None,
        experiment: str | None = None,
        seed: int = 0,
        features: list[str] | None = None,
        rules: list[Any] | None = None,
        cpus: int | None = None,
        network_isolation: bool = False,
        checkpoint_interval_seconds: float = 2.0,
    ) -> dict[str, Any]:
        """Validate a request and return what :meth:`create` would launch, launching nothing.

        Returns ``{"name", "entrypoint", "config", "max_runtime_seconds", "resumable"}``. A
        script's source folder is snapshotted into the artifact store (that is its code hash).

        Raises:
            ValidationError, NotFoundError, AlreadyExistsError: as :meth:`create`.
        """
        from forgeml.core.jobs._service import new_name

        name = validate_name(name or new_name("training"), "training job name")
        if (algorithm is None) == (script is None):
            raise ValidationError("give exactly one of algorithm= (a built-in) or script= (script mode)")
        if algorithm is not None and (source_dir is not None or source_bundle is not None):
            raise ValidationError("source_dir and source_bundle go with script= (script mode), not with algorithm=")
        if max_runtime_seconds is None:
            max_runtime_seconds = DEFAULT_MAX_RUNTIME
        if not 0 < float(max_runtime_seconds) <= MAX_RUNTIME_LIMIT:
            raise ValidationError(f"max_runtime_seconds must be in (0, {MAX_RUNTIME_LIMIT}] (28 days), got {max_runtime_seconds!r}")
        if cpus is not None and (not isinstance(cpus, int) or cpus < 1):
            raise ValidationError(f"cpus must be a positive integer, got {cpus!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise ValidationError(f"seed must be an integer in [0, 2^32), got {seed!r}")
        if checkpoint_interval_seconds <= 0:
            raise ValidationError("checkpoint_interval_seconds must be positive")
        self._check_free(name)
        resolved = resolve_channels(self.ws, channels)
        config: dict[str, Any] = {
            "channels": resolved, "target": target, "features": list(features) if features else None,
            "metric_definitions": _check_metric_definitions(metric_definitions), "checkpoint": bool(checkpoint),
            "checkpoint_interval_seconds": float(checkpoint_interval_seconds), "experiment": experiment, "seed": seed,
            "rules": normalize_rules(rules), "cpus": cpus, "network_isolation": bool(network_isolation), "recipe": recipe,
        }  # fmt: skip
        if recipe is not None:
            self._check_recipe(recipe)
        if algorithm is not None:
            config.update(self._builtin_config(algorithm, hyperparameters, resolved, target, features, recipe))
            entrypoint = "forgeml.training._builtin:run"
        else:
            if network_isolation:
                from forgeml.training._isolation import network_isolation_support

                ok, why = network_isolation_support()
                if not ok:
                    raise ValidationError(f"network isolation is not available here: {why}")
            config.update(self._script_config(name, script or "", source_dir, source_bundle, hyperparameters))  # stores the code last
            entrypoint = "forgeml.training._script:run"
        return {
            "name": name, "entrypoint": entrypoint, "config": config,
            "max_runtime_seconds": float(max_runtime_seconds), "resumable": bool(checkpoint),
        }  # fmt: skip

    def _check_free(self, name: str) -> None:
        try:
            self.ws.jobs.get(name)
        except NotFoundError:
            pass
        else:
            raise AlreadyExistsError(f"a job named {name!r} already exists")
        self.ws.metadata.delete_resource(KIND, name)  # a leftover of a launch that failed

    def _builtin_config(
        self,
        algorithm: str,
        hyperparameters: dict[str, Any] | None,
        channels: dict[str, dict[str, Any]],
        target: str | None,
        features: list[str] | None,
        recipe: dict[str, Any] | None,
    ) -> dict[str, Any]:
        algo = get_algorithm(algorithm)
        hp = algo.validate(hyperparameters)
        if "train" not in channels:
            raise ValidationError(f"{algorithm} needs a 'train' channel (got: {', '.join(channels)})")
        unknown = sorted(set(channels) - set(algo.channels))
        if unknown:
            allowed = " and ".join(repr(c) for c in algo.channels)
            raise ValidationError(f"{algorithm} reads only {allowed} channels, not {', '.join(unknown)}")
        if algo.supervised and not target:
            raise ValidationError(f"{algorithm} is supervised: give target= (the label column)")
        if algo.inputs == "jsonlines":
            from forgeml.training._forecast_data import check_channels

            check_channels(channels, hp)
            from forgeml.training._forecast import quantiles
            from forgeml.training._forecast_data import check_freq

            check_freq(hp["time_freq"])
            quantiles(hp["test_quantiles"])
            return {"algorithm": algorithm, "hyperparameters": hp}
        for channel, source in channels.items():
            schema = source.get("schema")
            if schema is None:
                raise ValidationError(f"channel {channel!r} holds no .parquet or .csv data")
            columns = {c["name"]: c["type"] for c in schema}
            wanted = [*(features or []), *([target] if target else [])]
            if channel == "validation" and not algo.supervised:
                wanted = list(features or [])
            missing = [c for c in wanted if c not in columns]
            if missing:
                raise ValidationError(f"channel {channel!r} has no column(s) {', '.join(map(repr, missing))}")
            if algo.inputs == "text" and channel == "train":
                used = features or [c for c in columns if c != target]
                if len(used) != 1:
                    raise ValidationError(f"{algorithm} reads one text column: pass features=['<column>'] (got {len(used)} columns)")
                continue
            if recipe is None and channel == "train":
                used = features or [c for c in columns if c != target]
                bad = [c for c in used if not _numeric(columns[c])]
                if bad:
                    raise ValidationError(
                        f"non-numeric input column(s) {', '.join(bad)} in channel 'train': pass features= "
                        "to leave them out, or a recipe= that encodes them"
                    )
        if algorithm == "image-classification" and recipe is None:  # the pixel count is known now
            from forgeml.training._image import parse_shape

            columns = [c["name"] for c in channels["train"]["schema"]]
            parse_shape(hp["image_shape"], len(features or [c for c in columns if c != target]))
        return {"algorithm": algorithm, "hyperparameters": hp}

    def _script_root(self, script: str, source_dir: str | None, source_bundle: str | None, tmp: Path) -> tuple[Path, Path, str | None]:
        """Where a script's code comes from: ``(root folder, entry script, bundle digest)``.

        The one place a script is resolved: a network caller's ``script`` / ``source_dir`` must
        lie in an allowed code root (``ws.access``); a bundle is materialized under ``tmp``.

        Raises:
            ForbiddenError: a server path a network caller may not run.
            NotFoundError: no such script, folder or bundle. ValidationError: a bad combination.
        """
        from forgeml.core.bundles import folder_digest

        if source_bundle is not None:
            if source_dir is not None:
                raise ValidationError("give source_dir (a folder) or source_bundle (an uploaded bundle), not both")
            digest = folder_digest(self.ws, source_bundle, "source_bundle")
            root = self.ws.artifacts.get_dir(digest, tmp / "bundle").resolve()
            entry = (root / script).resolve()
            if Path(script).is_absolute() or not entry.is_relative_to(root):
                raise ValidationError(f"script {script!r} must be a path inside the bundle")
            if not entry.is_file():
                raise NotFoundError(f"script {script!r} is not in bundle {digest}")
            return root, entry, digest
        if source_dir is not None:
            self.ws.access.check_code(source_dir, "source_dir")
            root = Path(source_dir).expanduser().resolve()
            if not root.is_dir():
                raise NotFoundError(f"source_dir {source_dir!r} is not a folder")
            entry = Path(script)
            entry = entry.resolve() if entry.is_absolute() else (root / entry).resolve()
            if not entry.is_file():
                raise NotFoundError(f"script {script!r} does not exist in {source_dir!r}")
            if not entry.is_relative_to(root):
                raise ValidationError(f"script {script!r} is outside source_dir {source_dir!r}")
            return root, entry, None
        self.ws.access.check_code(script, "script")
        entry = Path(script).expanduser().resolve()
        if not entry.is_file():
            raise NotFoundError(f"script {script!r} does not exist")
        return entry.parent, entry, None

    def _script_config(
        self, name: str, script: str, source_dir: str | None, source_bundle: str | None, hyperparameters: dict[str, Any] | None
    ) -> dict[str, Any]:  # fmt: skip
        hp = {str(k): _json_scalar(str(k), v) for k, v in (hyperparameters or {}).items()}
        for key in hp:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", key):
                raise ValidationError(f"hyperparameter name {key!r} must be letters, digits, '_' or '-'")
        with tempfile.TemporaryDirectory() as tmp:
            root, entry, digest = self._script_root(script, source_dir, source_bundle, Path(tmp))
            if entry.suffix != ".py":
                raise ValidationError(f"script {script!r} must be a Python file (.py)")
            if digest is None:
                snapshot = Path(tmp) / "code"
                if source_dir is not None:
                    shutil.copytree(root, snapshot, ignore=_IGNORE)
                else:
                    snapshot.mkdir()
                    shutil.copy2(entry, snapshot / entry.name)
                digest = self.ws.artifacts.put_dir(snapshot, owner=f"job/{name}").digest
            else:
                self.ws.metadata.put_artifact(self.ws.metadata.get_artifact(digest), owner=f"job/{name}")
            has_requirements = (root / "requirements.txt").is_file() and (source_dir is not None or source_bundle is not None)
        return {
            "script": str(entry.relative_to(root)), "source_dir": f"artifact/{digest}" if source_bundle else str(root),
            "code_digest": digest, "has_requirements": has_requirements, "hyperparameters": hp, "algorithm": None,
        }  # fmt: skip

    def check_inputs(self, request: Mapping[str, Any]) -> None:
        """Resolve a request's channels, script and recipe as :meth:`plan` does, storing nothing.

        The tuning service checks the training part of a spec with it before any trial runs, so
        a network caller's trials reach only what the caller could reach directly.

        Raises:
            ForbiddenError, NotFoundError, ValidationError: as :meth:`plan`.
        """
        resolved = resolve_channels(self.ws, request.get("channels"))  # type: ignore[arg-type]
        if request.get("recipe") is not None:
            self._check_recipe(request["recipe"])
        if request.get("algorithm") is not None:  # the columns every trial would read, checked once now
            self._builtin_config(str(request["algorithm"]), None, resolved, request.get("target"), request.get("features"), request.get("recipe"))
        if request.get("script") is not None:
            with tempfile.TemporaryDirectory() as tmp:
                self._script_root(str(request["script"]), request.get("source_dir"), request.get("source_bundle"), Path(tmp))

    def _check_recipe(self, recipe: dict[str, Any]) -> None:
        if not isinstance(recipe, dict):
            raise ValidationError("recipe must be a recipe spec (dict)")
        try:
            from forgeml.data.recipes import Recipe
        except ImportError:
            raise ValidationError("recipes are not available in this installation (forgeml.data.recipes)") from None
        Recipe.from_dict(recipe).check_access(self.ws.access, "recipe")

    # read ------------------------------------------------------------------------------------
    def get(self, name: str) -> JobRecord:
        """The training job's record (status, secondary status, failure reason, ...).

        Raises:
            NotFoundError: when there is no training job of that name.
        """
        job = self.ws.jobs.get(name)
        if job.kind != "training":
            raise NotFoundError(f"job {name!r} is a {job.kind} job, not a training job")
        return job

    def record(self, name: str) -> ResourceRecord:
        """The training-job resource (transitions, model artifact, rules, reproducibility)."""
        name = self.get(name).name
        try:
            return self.ws.metadata.get_resource(KIND, name, 1)
        except NotFoundError:
            raise NotFoundError(f"training job {name!r} has no training record") from None

    def describe(self, name: str) -> dict[str, Any]:
        """Everything about a training job, in the shape of SageMaker's DescribeTrainingJob."""
        job = self.get(name)
        data = self.record(name).data
        latest = self.ws.metadata.latest_metrics([job.ref]).get(job.ref, {})
        cfg = job.config
        return {
            "TrainingJobName": job.name, "TrainingJobStatus": job.status, "SecondaryStatus": job.secondary_status,
            "FailureReason": job.failure_reason, "AlgorithmSpecification": {
                "TrainingImage": cfg.get("algorithm") or "script-mode", "Script": cfg.get("script"),
            },
            "HyperParameters": cfg.get("hyperparameters", {}),
            "InputDataConfig": [{"ChannelName": k, "Source": v.get("ref") or v.get("path"), "ContentType": v.get("content_type")}
                                for k, v in cfg.get("channels", {}).items()],
            "StoppingCondition": {"MaxRuntimeInSeconds": job.max_runtime_seconds},
            "ResourceConfig": {"InstanceCount": 1, "CPUs": cfg.get("cpus") or os.cpu_count()},
            "EnableNetworkIsolation": cfg.get("network_isolation", False),
            "CheckpointConfig": {"Enabled": cfg.get("checkpoint", False), "LastCheckpoint": job.handle.get("checkpoint")},
            "ModelArtifacts": {"Digest": data.get("model_artifact"), "Packaged": data.get("model_packaged")},
            "FinalMetricDataList": [{"MetricName": k, "Value": v} for k, v in sorted(latest.items())],
            "SecondaryStatusTransitions": data.get("secondary_status_transitions", []),
            "DebugRuleEvaluationStatuses": data.get("debug_rule_evaluation_statuses", []),
            "Progress": data.get("progress"), "Reproducibility": data.get("reproducibility"),
            "Experiment": cfg.get("experiment"), "Attempts": job.attempts,
            "Details": {k: v for k, v in data.items() if k in ("iterations", "best_iteration", "resumed_from_iteration", "stopped_by_rule", "task")},
            "CreationTime": job.to_dict()["created_at"], "TrainingStartTime": job.to_dict()["started_at"],
            "TrainingEndTime": job.to_dict()["ended_at"],
        }  # fmt: skip

    def list(self, *, status: list[str] | None = None, name_contains: str | None = None, limit: int | None = None) -> list[JobRecord]:
        """Training jobs, newest first."""
        return self.ws.jobs.list(kind="training", status=status, name_contains=name_contains, limit=limit)

    def model_artifact(self, name: str) -> str:
        """Digest of the job's model folder in the artifact store.

        Raises:
            ConflictError: when the job has not produced a model (yet).
        """
        job = self.get(name)
        digest = self.record(name).data.get("model_artifact")
        if not digest:
            note = self.record(name).data.get("model_note")
            why = f": {job.failure_reason}" if job.failure_reason else (f": {note}" if note else "")
            raise ConflictError(f"training job {name!r} has no model artifact (status {job.status}{why})")
        return str(digest)

    def model_dir(self, name: str) -> Path:
        """A local, verified copy of the job's model folder (a ForgeML model package for built-ins)."""
        digest = self.model_artifact(name)
        target = self.ws.home / "cache" / "models" / digest
        if not target.exists():
            tmp = target.with_name(f".{digest}.{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            self.ws.artifacts.get_dir(digest, tmp)
            try:
                tmp.rename(target)
            except OSError:  # another process got there first
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    def logs(self, name: str, follow: bool = False) -> Iterator[str]:
        """The job's log lines; with ``follow``, until the job ends."""
        self.get(name)
        return self.ws.jobs.logs(name, follow=follow)

    def metrics(self, name: str, key: str | None = None) -> list[MetricRecord]:
        """The job's metric series (``train:*``, ``validation:*``, metric-definition names)."""
        self.get(name)
        return self.ws.jobs.metrics(name, key)

    # control ---------------------------------------------------------------------------------
    def stop(self, name: str, *, wait: bool = False, timeout: float | None = None) -> JobRecord:
        """Stop the job (SIGTERM, then SIGKILL after the grace period)."""
        self.get(name)
        return self.ws.jobs.stop(name, wait=wait, timeout=timeout)

    def wait(self, name: str, *, timeout: float | None = None, raise_on_failure: bool = True) -> JobRecord:
        """Block until the job ends (resuming it from its checkpoint if its process vanished).

        Raises:
            JobFailedError: when it ends Failed or Stopped and ``raise_on_failure``.
            TimeoutError: when ``timeout`` passes first.
        """
        self.get(name)
        return self.ws.jobs.wait(name, timeout=timeout, raise_on_failure=raise_on_failure)

    @staticmethod
    def algorithms() -> list[dict[str, Any]]:
        """The built-in algorithms with their hyperparameters and defaults."""
        return [a.to_dict() for a in ALGORITHMS.values()]


def _numeric(dtype: str) -> bool:
    return dtype.startswith(("int", "uint", "float", "bool", "Int", "UInt", "Float", "double", "halffloat"))


__all__ = ["TrainingService"]
