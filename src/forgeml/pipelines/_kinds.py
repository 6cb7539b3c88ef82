"""What each step type does: definition checks, cache keys, and start / poll / stop.

Job steps (Processing, Training) run as core jobs under a name derived from the execution, the
step and the attempt, so a driver that restarts after a crash finds the job it submitted instead of
submitting another. In-process steps (RegisterModel, Condition, Callback, Fail) are idempotent:
RegisterModel finds the version it registered by a tag before registering again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import AlreadyExistsError, ForgeError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.pipelines._expr import Scope
    from forgeml.pipelines._store import ExecutionRecord, StepRecord

RUNNER = "forgeml.pipelines._runner:run_processing"
STEP_TAG = "forgeml.pipeline.step"
RECONCILE_AFTER = 5.0  # seconds without a change before a running job's processes are checked
_MARK = re.compile(r"\[(Step\.[A-Z_]+|SageMaker\.[A-Z_]+)\]")
TRAINING_FIELDS = ("algorithm", "script", "source_dir", "source_bundle", "hyperparameters", "channels", "target",
                   "metric_definitions", "max_runtime_seconds", "checkpoint", "recipe", "experiment", "seed", "features",
                   "rules", "cpus", "network_isolation", "checkpoint_interval_seconds")  # fmt: skip
TRANSFORM_FIELDS = ("model", "dataset", "content_type", "accept", "compression_type", "split_type", "batch_strategy", "max_payload_mb",
                    "max_concurrent_transforms", "assemble_with", "input_filter", "output_filter", "join_source", "environment",
                    "max_runtime_seconds")  # fmt: skip


@dataclass
class Outcome:
    """Where a step stands after a start or a poll."""

    state: str  # running | succeeded | failed
    job: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    exception_type: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepRun:
    """One attempt of one step, as the driver hands it to its kind."""

    ws: Workspace
    execution: ExecutionRecord
    step: dict[str, Any]
    args: dict[str, Any]
    row: StepRecord
    job_name: str
    scope: Scope


def exception_type(reason: str | None) -> str | None:
    """The retry policy's exception type of a failure: a ``[Type]`` mark (``StepFault``), a lost
    job process (``SageMaker.JOB_INTERNAL_ERROR``), memory (``SageMaker.CAPACITY_ERROR``); None
    for the step's own errors, which are never retried."""
    text = reason or ""
    mark = _MARK.search(text)
    if mark:
        return mark.group(1)
    if "disappeared while" in text or "was never started" in text:
        return "SageMaker.JOB_INTERNAL_ERROR"
    if text.startswith("MemoryError"):
        return "SageMaker.CAPACITY_ERROR"
    return None


def check_arguments(step: dict[str, Any]) -> None:
    """Per-type checks of a step's Arguments at definition time."""
    name, kind, args = step["Name"], step["Type"], step.get("Arguments") or {}
    where = f"step {name!r} Arguments"
    if kind == "Processing":
        fn = args.get("Callable")
        if not isinstance(fn, str) or not re.match(r"^[\w.]+:[\w.]+$", fn):
            raise ValidationError(f"{where}.Callable must be 'package.module:function', got {fn!r}")
        if not isinstance(args.get("Inputs", {}), dict) or not isinstance(args.get("Outputs", []), list):
            raise ValidationError(f"{where}: Inputs must be an object and Outputs a list of names")
        outs = set(args.get("Outputs") or [])
        for pf in step.get("PropertyFiles") or []:
            if not isinstance(pf, dict) or not pf.get("PropertyFileName") or pf.get("OutputName") not in outs or not pf.get("FilePath"):
                raise ValidationError(f"step {name!r} PropertyFiles: each needs PropertyFileName, FilePath and an OutputName among Outputs {sorted(outs)}")
            if ".." in Path(str(pf["FilePath"])).parts or str(pf["FilePath"]).startswith("/"):
                raise ValidationError(f"step {name!r} PropertyFiles: FilePath {pf['FilePath']!r} must be relative, inside the output")
    elif kind == "Training":
        unknown = sorted(set(args) - set(TRAINING_FIELDS))
        if unknown:
            raise ValidationError(f"{where}: unknown training argument {unknown[0]!r} (expected {', '.join(TRAINING_FIELDS)})")
        if not args.get("channels"):
            raise ValidationError(f"{where}: channels are required")
        if bool(args.get("algorithm")) == bool(args.get("script")):
            raise ValidationError(f"{where}: give exactly one of algorithm or script")
    elif kind == "Transform":
        unknown = sorted(set(args) - set(TRANSFORM_FIELDS))
        if unknown:
            raise ValidationError(f"{where}: unknown transform argument {unknown[0]!r} (expected {', '.join(TRANSFORM_FIELDS)})")
        if not args.get("model") or not args.get("dataset"):
            raise ValidationError(f"{where}: model and dataset are required (a pipeline's transform reads a dataset)")
    elif kind == "RegisterModel":
        if not args.get("ModelPackageGroupName"):
            raise ValidationError(f"{where}.ModelPackageGroupName is required")
        if ("TrainingJobName" in args) == ("ModelArtifact" in args):
            raise ValidationError(f"{where}: give exactly one of TrainingJobName or ModelArtifact")
    elif kind == "Callback":
        outs = args.get("OutputParameters") or []
        if not isinstance(outs, list) or any(not isinstance(o, dict) or not o.get("OutputName") for o in outs):
            raise ValidationError(f"{where}.OutputParameters must be a list of {{OutputName, OutputType}}")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _file_hash(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _module_file(fn: str, file: str | None) -> str | None:
    if file:
        return file
    import importlib.util

    try:
        spec = importlib.util.find_spec(fn.partition(":")[0])
    except (ImportError, ValueError):
        return None
    return spec.origin if spec else None


def _dir_hash(path: str | None) -> str | None:
    if not path or not Path(path).is_dir():
        return None
    h = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def cache_key(run: StepRun) -> str | None:
    """The reference's per-type attribute list, hashed (None for types that never cache)."""
    kind, args = run.step["Type"], run.args
    if kind == "Processing":
        attrs = {"AppSpecification": {"Callable": args["Callable"], "Code": _file_hash(_module_file(args["Callable"], args.get("File")))},
                 "Environment": args.get("Environment") or {},
                 "ProcessingInputs": {"Inputs": args.get("Inputs") or {}, "Outputs": args.get("Outputs") or []}}  # fmt: skip
    elif kind == "Training":
        channels = {}
        for k, v in (args.get("channels") or {}).items():
            src = v.get("source") if isinstance(v, dict) else v
            try:
                channels[k] = run.ws.datasets.get(src).ref  # pinned: a new dataset version is a new input
            except (ForgeError, TypeError):
                channels[k] = src
        attrs = {"AlgorithmSpecification": {"algorithm": args.get("algorithm"), "script": args.get("script"),
                                            "source_bundle": args.get("source_bundle"), "source": _dir_hash(args.get("source_dir"))},
                 "CheckpointConfig": args.get("checkpoint", False), "DebugRuleConfigurations": args.get("rules"),
                 "Environment": {}, "HyperParameters": {"hyperparameters": args.get("hyperparameters") or {},
                                                        "target": args.get("target"), "features": args.get("features"),
                                                        "recipe": args.get("recipe"), "seed": args.get("seed")},
                 "InputDataConfig": channels}  # fmt: skip
    elif kind == "Transform":
        try:
            dataset = run.ws.datasets.get(args["dataset"]).ref
        except (ForgeError, TypeError):
            dataset = args.get("dataset")
        attrs = {"DataProcessing": {k: args.get(k) for k in ("input_filter", "output_filter", "join_source")},
                 "Environment": args.get("environment") or {}, "ModelName": _pinned_model(run.ws, args.get("model")),
                 "TransformInput": {"dataset": dataset, **{k: args.get(k) for k in ("content_type", "split_type", "compression_type")}}}  # fmt: skip
    else:
        return None
    return _digest({"Type": kind, **attrs})


def _pinned_model(ws: Workspace, model: Any) -> Any:
    try:
        return ws.registry.get(str(model)).ref  # NAME or NAME@ALIAS: the version it means now
    except (ForgeError, TypeError, ValueError):
        return model


# job steps ---------------------------------------------------------------------------------
def _adopt(ws: Workspace, name: str) -> Outcome:
    job = ws.jobs.launch_if_orphaned(name)
    return Outcome("running", job=job.name)


def start(run: StepRun) -> Outcome:
    """Start one attempt of a step (idempotent: a second call adopts what the first began)."""
    kind = run.step["Type"]
    handler = {"Processing": _start_processing, "Training": _start_training, "Transform": _start_transform, "RegisterModel": _register,
               "Condition": _condition, "Callback": _callback, "Fail": _fail}[kind]  # fmt: skip
    return handler(run)


def _start_processing(run: StepRun) -> Outcome:
    args = run.args
    run.ws.access.check_entry_point(args["Callable"], f"step {run.step['Name']!r} Callable")
    if args.get("File"):
        run.ws.access.check_code(args["File"], f"step {run.step['Name']!r} File")
    config = {"callable": args["Callable"], "file": args.get("File"), "inputs": args.get("Inputs") or {},
              "outputs": args.get("Outputs") or [], "property_files": run.step.get("PropertyFiles") or [],
              "environment": args.get("Environment") or {}, "pipeline": run.execution.pipeline,
              "execution": run.execution.id, "step": run.step["Name"]}  # fmt: skip
    try:
        job = run.ws.jobs.submit("processing", RUNNER, config, name=run.job_name, inputs=_refs_in(args.get("Inputs")))
    except AlreadyExistsError:
        return _adopt(run.ws, run.job_name)
    return Outcome("running", job=job.name)


def _start_training(run: StepRun) -> Outcome:
    request = {k: v for k, v in run.args.items() if k in TRAINING_FIELDS}
    try:
        run.ws.jobs.get(run.job_name)
        return _adopt(run.ws, run.job_name)
    except NotFoundError:
        pass
    try:
        run.ws.training.create(run.job_name, **request)
    except AlreadyExistsError:  # its record was stored, the job never was (a crash between): again
        try:
            run.ws.jobs.get(run.job_name)
            return _adopt(run.ws, run.job_name)
        except NotFoundError:
            run.ws.metadata.delete_resource("training-job", run.job_name)
            run.ws.training.create(run.job_name, **request)
    return Outcome("running", job=run.job_name)


def _start_transform(run: StepRun) -> Outcome:
    request = {k: v for k, v in run.args.items() if k in TRANSFORM_FIELDS}
    model = request.pop("model")
    try:
        run.ws.transforms.create(str(model), name=run.job_name, **request)
    except AlreadyExistsError:
        return _adopt(run.ws, run.job_name)
    return Outcome("running", job=run.job_name)


def _refs_in(value: Any) -> list[str]:
    from forgeml.core.refs import is_reference

    out: list[str] = []
    if isinstance(value, dict):
        for v in value.values():
            out.extend(_refs_in(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_refs_in(v))
    elif isinstance(value, str) and "/" in value and is_reference(value):
        out.append(value)
    return out


def poll(run: StepRun) -> Outcome:
    """Where a running job step stands now."""
    import time

    job = run.ws.jobs.get(run.row.job or run.job_name)
    if not job.is_terminal and time.time() - job.updated_at > RECONCILE_AFTER:
        job = run.ws.jobs.refresh(job.name)  # settle it if its processes are gone (not while it starts up)
    if not job.is_terminal:
        return Outcome("running", job=job.name)
    if job.status != "Completed":
        reason = job.failure_reason or f"job {job.name} {job.status.lower()}"
        return Outcome("stopped" if job.status == "Stopped" else "failed", job=job.name, reason=reason,
                       exception_type=exception_type(reason))  # fmt: skip
    if run.step["Type"] == "Processing":
        result = job.handle.get("pipeline_result") or {}
        props = {"ProcessingJobName": job.name, "ProcessingJobStatus": job.status, "Result": result.get("result"),
                 "Outputs": result.get("outputs", {}), "PropertyFiles": result.get("property_files", {}),
                 "ProcessingOutputConfig": {"Outputs": [{"OutputName": k, "S3Output": {"S3Uri": v}} for k, v in result.get("outputs", {}).items()]}}  # fmt: skip
        return Outcome("succeeded", job=job.name, properties=props)
    if run.step["Type"] == "Transform":
        report = run.ws.transforms.report(job.name)
        props = {"TransformJobName": job.name, "TransformJobStatus": job.status, "Report": report,
                 "TransformOutput": {"S3OutputPath": f"job/{job.name}", "Records": (report or {}).get("records")}}  # fmt: skip
        return Outcome("succeeded", job=job.name, properties=json.loads(json.dumps(props, default=str)))
    desc = run.ws.training.describe(job.name)
    digest = (desc.get("ModelArtifacts") or {}).get("Digest")
    desc["ModelArtifacts"] = {**(desc.get("ModelArtifacts") or {}), "S3ModelArtifacts": f"artifact/{digest}" if digest else None}
    return Outcome("succeeded", job=job.name, properties=json.loads(json.dumps(desc, default=str)))


def stop(run: StepRun) -> None:
    """Ask a running job step to stop."""
    from forgeml.errors import InvalidTransitionError

    if run.row.job:
        with contextlib.suppress(InvalidTransitionError, NotFoundError):
            run.ws.jobs.stop(run.row.job)


# in-process steps --------------------------------------------------------------------------
def _register(run: StepRun) -> Outcome:
    args, ws = run.args, run.ws
    tag = f"{run.execution.id}/{run.step['Name']}/{run.row.attempt}"
    group = str(args["ModelPackageGroupName"])
    found = None
    with contextlib.suppress(NotFoundError):
        found = next((v for v in ws.registry.versions(group) if v.tags.get(STEP_TAG) == tag), None)
    if found is None:
        job = args.get("TrainingJobName")
        artifact = args.get("ModelArtifact")
        if isinstance(artifact, str) and artifact.startswith("artifact/"):
            artifact = artifact.partition("/")[2]
        found = ws.registry.register(group, training_job=job, artifact=artifact, description=args.get("Description"),
                                     approval_status=args.get("ModelApprovalStatus") or "PendingManualApproval",
                                     tags={STEP_TAG: tag})  # fmt: skip
    props = {"ModelPackageArn": found.ref, "ModelPackageGroupName": found.name, "ModelPackageVersion": found.version,
             "ModelApprovalStatus": found.status}  # fmt: skip
    return Outcome("succeeded", properties=props)


def _condition(run: StepRun) -> Outcome:
    from forgeml.pipelines._expr import evaluate

    outcome = all(evaluate(c, run.scope) for c in run.step["Arguments"]["Conditions"])
    return Outcome("succeeded", properties={"Outcome": outcome})


def _callback(run: StepRun) -> Outcome:
    return Outcome("running", data={"callback": True})


def _fail(run: StepRun) -> Outcome:
    message = run.args.get("ErrorMessage") or ""
    return Outcome("failed", reason=str(message), data={"fail_step": True})


__all__ = ["RUNNER", "STEP_TAG", "Outcome", "StepRun", "cache_key", "check_arguments", "exception_type", "poll", "start", "stop"]
