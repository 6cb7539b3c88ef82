"""``ws.pipelines``: versioned pipeline definitions and their durable executions.

A pipeline is a resource of kind ``pipeline``; every :meth:`PipelineService.create` stores a new
version (``pipeline/NAME:V``) whose spec holds the definition JSON. Executions and their steps are
rows the driver (:mod:`forgeml.pipelines._driver`) moves forward; ``forgeml server`` runs it, and
:meth:`PipelineService.wait` drives an execution itself when asked to.
"""

from __future__ import annotations

import builtins
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.records import ResourceRecord
from forgeml.errors import ConflictError, NotFoundError, ValidationError
from forgeml.pipelines import _store as s
from forgeml.pipelines._driver import KIND, Driver
from forgeml.pipelines._validate import NAME, Graph, check_value, compile_definition

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.pipelines._steps import Pipeline


def _loader() -> type:
    """YAML 1.2's booleans: only true/false. YAML 1.1 (PyYAML's default) reads the key ``On`` of
    ``Std:Join`` (and yes/no/off) as a boolean."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    return Loader


def load_yaml(source: str | Path) -> dict[str, Any]:
    """A definition written as YAML (the definition JSON's fields), from a file or a text.

    Raises:
        ValidationError: not YAML, or not a mapping.
    """
    import yaml

    text = Path(source).read_text() if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))) else source
    try:
        doc = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        raise ValidationError(f"pipeline YAML does not parse: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise ValidationError("a pipeline YAML file holds a mapping (Name, Parameters, Steps, ...)")
    return doc


class PipelineService:
    """Create, inspect and run pipelines."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = s.ExecutionStore(workspace.metadata)
        self.driver = Driver(workspace)

    # definitions -------------------------------------------------------------------------------
    def create(self, pipeline: Pipeline | dict[str, Any] | str | Path, *, name: str | None = None,
               description: str | None = None, tags: dict[str, str] | None = None) -> ResourceRecord:  # fmt: skip
        """Store a definition as the next version of its pipeline, after checking it all.

        Args:
            pipeline: a :class:`Pipeline`, a definition dict (the JSON; ``Name`` optional), or a
                YAML file or text of that dict.
            name: the pipeline's name (default: the Pipeline's or the definition's ``Name``).

        Raises:
            ValidationError: the definition's first problem, in one line.
            ForbiddenError: over the network, a step that names server code or a server path.
        """
        if hasattr(pipeline, "definition") and not isinstance(pipeline, dict):
            definition, name = pipeline.definition(), name or pipeline.name  # type: ignore[union-attr]
            description = description or getattr(pipeline, "description", None)
        else:
            definition = dict(load_yaml(pipeline) if isinstance(pipeline, str | Path) else pipeline)
            name = name or definition.pop("Name", None)
            definition.pop("Name", None)
            definition.setdefault("Version", "2020-12-01")
        if not isinstance(name, str) or not NAME.match(name):
            raise ValidationError(f"invalid pipeline name {name!r}: use 1-64 letters, digits, '-' or '_'")
        import json

        try:
            definition = json.loads(json.dumps(definition))
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"pipeline definition is not JSON: {exc}") from None
        graph = compile_definition(definition)
        self._check_access(graph)
        origin = "local" if self.ws.access.is_local else "network"
        return self.ws.metadata.create_resource(ResourceRecord(
            KIND, name, status="Active", spec={"definition": definition, "description": description, "origin": origin},
            data={"steps": len(graph.steps)}, tags=tags or {},
        ), next_version=True)  # fmt: skip

    def _check_access(self, graph: Graph) -> None:
        """Over the network a step may run only built-in or uploaded work (checked again at run time)."""
        access = self.ws.access
        if access.is_local:
            return
        for name, step in graph.steps.items():
            args = step.get("Arguments") or {}
            if step["Type"] == "Processing":
                access.check_entry_point(str(args.get("Callable")), f"step {name!r} Arguments.Callable")
                if args.get("File"):
                    access.check_code(str(args["File"]), f"step {name!r} Arguments.File")
            if step["Type"] == "Training":
                for key in ("script", "source_dir"):
                    if isinstance(args.get(key), str) and not (key == "script" and args.get("source_bundle")):
                        access.check_code(args[key], f"step {name!r} Arguments.{key}")
                for channel, source in (args.get("channels") or {}).items():
                    src = source.get("source") if isinstance(source, dict) else source
                    if isinstance(src, str):
                        from forgeml.core.refs import looks_like_path

                        if looks_like_path(src, (".parquet", ".pq", ".csv")):
                            access.check_source(src, f"step {name!r} Arguments.channels.{channel}")

    def get(self, name: str, version: int | None = None) -> ResourceRecord:
        """A pipeline version (``NAME``, ``NAME:V`` or ``pipeline/NAME:V``; the latest by default).

        Raises:
            NotFoundError: no such pipeline or version.
        """
        from forgeml.core.refs import parse_ref

        ref = parse_ref(name, KIND)
        if ref.alias not in (None, "latest"):
            raise ValidationError(f"pipeline {name!r}: give a version number, not an alias")
        base, version = ref.name, version if version is not None else ref.version
        try:
            return self.ws.metadata.get_resource(KIND, base, version)
        except NotFoundError:
            raise NotFoundError(f"pipeline {base!r}" + (f" version {version}" if version else "") + " does not exist") from None

    def list(self) -> builtins.list[ResourceRecord]:
        """The latest version of every pipeline, by name."""
        return sorted(self.ws.metadata.list_resources(KIND, latest_only=True), key=lambda r: r.name)

    def versions(self, name: str) -> builtins.list[ResourceRecord]:
        self.get(name)
        return self.ws.metadata.list_resources(KIND, name=name)

    def definition(self, name: str, version: int | None = None) -> dict[str, Any]:
        return dict(self.get(name, version).spec["definition"])

    def parse_parameters(self, name: str, pairs: builtins.list[str]) -> dict[str, Any]:
        """``["N=5", "Kind=a"]`` as typed values, by the parameters' types (the CLI's ``-p``).

        Raises:
            ValidationError: not ``NAME=VALUE``, an unknown parameter, or a value of the wrong type.
        """
        params = compile_definition(self.get(name).spec["definition"]).parameters
        out: dict[str, Any] = {}
        for pair in pairs:
            key, sep, text = pair.partition("=")
            if not sep or key not in params:
                raise ValidationError(f"parameter {pair!r}: write NAME=VALUE with NAME one of {', '.join(params) or 'none'}")
            kind = params[key].get("Type", "String")
            try:
                value: Any = {"String": str, "Integer": int, "Float": float}[kind](text) if kind != "Boolean" else {"true": True, "false": False}[text.lower()]
            except (KeyError, ValueError):
                raise ValidationError(f"parameter {key!r}: {text!r} is not a {kind}") from None
            out[key] = value
        return out

    # executions --------------------------------------------------------------------------------
    def start(self, name: str, parameters: dict[str, Any] | None = None, *, version: int | None = None,
              display_name: str | None = None, max_parallel: int | None = None) -> s.ExecutionRecord:  # fmt: skip
        """Start an execution of a pipeline (its latest version unless ``version``).

        Args:
            parameters: values overriding the parameters' defaults, type-checked.
            max_parallel: MaxParallelExecutionSteps for this execution.

        Raises:
            NotFoundError: no such pipeline. ValidationError: an unknown parameter, a value of
            the wrong type, or a parameter without default left out.
        """
        record = self.get(name, version)
        graph = compile_definition(record.spec["definition"])
        values: dict[str, Any] = {}
        given = dict(parameters or {})
        for pname in given:
            if pname not in graph.parameters:
                raise ValidationError(f"pipeline {record.name!r} has no parameter {pname!r} (it has: {', '.join(graph.parameters) or 'none'})")
        for pname, param in graph.parameters.items():
            if pname in given:
                values[pname] = check_value(param, given[pname])
            elif param.get("DefaultValue") is not None:
                values[pname] = check_value(param, param["DefaultValue"])
            else:
                raise ValidationError(f"parameter {pname!r} has no default: give a value")
        if max_parallel is not None and (isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or max_parallel < 1):
            raise ValidationError(f"max_parallel must be a positive integer, got {max_parallel!r}")
        network = record.spec.get("origin") == "network" or not self.ws.access.is_local
        now = time.time()
        ex = s.ExecutionRecord(
            id=uuid.uuid4().hex[:12], pipeline=record.name, version=record.version, status=s.EXECUTING, parameters=values,
            origin="network" if network else "local", max_parallel=max_parallel, display_name=display_name,
            failure_reason=None, owner=None, beat=None, created_at=now, ended_at=None, updated_at=now,
        )  # fmt: skip
        return self.store.create(ex)

    def execution(self, execution_id: str) -> s.ExecutionRecord:
        """Raises: NotFoundError."""
        return self.store.get(str(execution_id).rpartition("/")[2])

    def executions(self, name: str | None = None, *, status: builtins.list[str] | None = None,
                   limit: int | None = None) -> builtins.list[s.ExecutionRecord]:  # fmt: skip
        """Executions, newest first (of one pipeline when ``name``)."""
        for st in status or ():
            if st not in s.EXECUTION_STATUSES:
                raise ValidationError(f"unknown execution status {st!r} (expected one of {', '.join(s.EXECUTION_STATUSES)})")
        if name is not None:
            name = self.get(name).name
        return self.store.list(pipeline=name, status=status, limit=limit)

    def steps(self, execution_id: str) -> builtins.list[s.StepRecord]:
        """The execution's started steps, in the order they started."""
        ex = self.execution(execution_id)
        return builtins.list(self.store.steps(ex.id).values())

    def describe(self, execution_id: str) -> dict[str, Any]:
        """The execution with every step of its definition: started ones with their record,
        the others ``NotStarted`` (or ``NotExecuted`` on a condition's side not taken)."""
        ex = self.execution(execution_id)
        graph = self.driver.graph(ex)
        rows = self.store.steps(ex.id)
        dead = self.driver._dead(graph, rows)
        steps = []
        for name in graph.order:
            row = rows.get(name)
            item: dict[str, Any] = row.to_dict() if row else {"step": name, "type": graph.steps[name]["Type"],
                                                               "status": "NotExecuted" if name in dead else "NotStarted"}  # fmt: skip
            item["depends_on"] = sorted(graph.deps[name])
            if name in graph.branch:
                item["branch"] = {"condition": graph.branch[name][0], "outcome": graph.branch[name][1]}
            steps.append(item)
        return {**ex.to_dict(), "steps": steps}

    def stop(self, execution_id: str) -> s.ExecutionRecord:
        """Ask an execution to stop (Stopping, then Stopped once nothing of it runs).

        Raises:
            ConflictError: the execution has ended.
        """
        ex = self.execution(execution_id)
        if ex.status == s.STOPPING:
            return ex
        out = self.store.set_status(ex, s.STOPPING, expected=(s.EXECUTING,))
        if out is None:
            raise ConflictError(f"pipeline execution {ex.id} is {self.execution(ex.id).status}: only an Executing one can be stopped")
        return out

    def retry(self, execution_id: str) -> s.ExecutionRecord:
        """Run a Failed execution again from its failed steps; succeeded steps are kept.

        Raises:
            ConflictError: the execution is not Failed.
        """
        ex = self.execution(execution_id)
        if ex.status != s.FAILED:
            raise ConflictError(f"pipeline execution {ex.id} is {ex.status}: only a Failed one can be retried")
        for row in self.store.steps(ex.id).values():
            if row.status in (s.FAILED, s.STOPPED):
                history = [*row.data.get("attempts", []), {"attempt": row.attempt, "job": row.job, "reason": row.failure_reason}]
                self.store.update_step(ex, row, status=s.STARTING, attempt=row.attempt + 1, job=None, next_at=None, failure_reason=None,
                                       started_at=time.time(), ended_at=None, data={"attempts": history, "retried": True})  # fmt: skip
        out = self.store.set_status(ex, s.EXECUTING, expected=(s.FAILED,), failure_reason=None, ended_at=None)
        if out is None:
            raise ConflictError(f"pipeline execution {ex.id} changed while being retried")
        return out

    # callbacks ---------------------------------------------------------------------------------
    def send_step_success(self, token: str, outputs: dict[str, Any] | None = None) -> s.StepRecord:
        """``SendPipelineExecutionStepSuccess``: the callback step succeeds with ``outputs``.

        Raises:
            NotFoundError: no step waits for the token. ValidationError: an output it does not declare.
            ConflictError: the step has already ended.
        """
        row, ex = self._callback(token)
        graph = self.driver.graph(ex)
        declared = [o["OutputName"] for o in graph.steps[row.step].get("Arguments", {}).get("OutputParameters") or []]
        outputs = {str(k): v for k, v in (outputs or {}).items()}
        for key in outputs:
            if key not in declared:
                raise ValidationError(f"callback step {row.step!r} has no output parameter {key!r} (it has: {', '.join(declared) or 'none'})")
        props = {"OutputParameters": [{"Name": k, "Value": v} for k, v in outputs.items()]}
        done = self.store.update_step(ex, row, expected=(s.EXECUTING, s.STOPPING), status=s.SUCCEEDED, properties=props)
        if done is None:
            raise ConflictError(f"callback step {row.step!r} has already ended")
        self.driver._lineage(ex, done)
        return done

    def send_step_failure(self, token: str, reason: str) -> s.StepRecord:
        """``SendPipelineExecutionStepFailure``: the callback step fails with ``reason``."""
        row, ex = self._callback(token)
        done = self.store.update_step(ex, row, expected=(s.EXECUTING, s.STOPPING), status=s.FAILED, failure_reason=str(reason)[:1024])
        if done is None:
            raise ConflictError(f"callback step {row.step!r} has already ended")
        return done

    def _callback(self, token: str) -> tuple[s.StepRecord, s.ExecutionRecord]:
        if not isinstance(token, str) or not token:
            raise ValidationError("a callback token is required")
        row = self.store.by_token(token)
        return row, self.store.get(row.execution)

    def callback_token(self, execution_id: str, step: str) -> str:
        """The token a waiting callback step was sent with (its ``PipelineCallback`` event holds it too)."""
        row = self.store.steps(self.execution(execution_id).id).get(step)
        if row is None or not row.token:
            raise NotFoundError(f"step {step!r} of execution {execution_id} is not a callback step that has started")
        return row.token

    # running -----------------------------------------------------------------------------------
    def tick(self) -> int:
        """Advance every active execution once (what ``forgeml server`` does every second)."""
        return self.driver.tick()

    def wait(self, execution_id: str, *, timeout: float | None = None, drive: bool = True, poll: float = 0.2) -> s.ExecutionRecord:
        """Block until the execution ends; with ``drive``, advance it from this process meanwhile
        (a running ``forgeml server`` holding its lease keeps driving it instead).

        Raises:
            TimeoutError: when ``timeout`` passes first.
        """
        ex = self.execution(execution_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while ex.is_active:
                if drive:
                    ex = self.driver.advance(ex)
                    if not ex.is_active:
                        break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"pipeline execution {ex.id} still {ex.status} after {timeout:g}s")
                time.sleep(poll)
                ex = self.execution(ex.id)
        finally:
            if drive:
                self.store.release(ex.id, self.driver.owner)
        return ex

    def run(self, name: str, parameters: dict[str, Any] | None = None, *, timeout: float | None = None, **options: Any) -> s.ExecutionRecord:
        """Start an execution and wait for it to end (driving it from this process)."""
        ex = self.start(name, parameters, **options)
        return self.wait(ex.id, timeout=timeout)


__all__ = ["PipelineService", "load_yaml"]
