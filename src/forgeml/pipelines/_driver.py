"""The durable driver: moves every active execution one step forward per tick.

Each tick, for each execution whose lease it holds (or takes from a dead driver), it

1. settles the steps in flight: a ``Starting`` step (intent recorded) is started, which adopts
   the job a crashed driver already submitted under the same name; an ``Executing`` job step is
   polled; a step waiting out a retry interval is started again when it is due;
2. on a stop request stops what runs and ends ``Stopped`` once nothing does; after a step failed,
   waits for the rest and ends ``Failed``;
3. starts the steps that are ready (dependencies succeeded, on the taken side of their condition),
   at most ``MaxParallelExecutionSteps`` at once, recording the intent before acting;
4. ends ``Succeeded`` when nothing runs and nothing is left that can run.

A completed step is a ``Succeeded`` row: nothing ever starts it again, so a driver killed at any
moment and started again never runs a completed step twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from forgeml.core.records import EdgeRecord, iso
from forgeml.errors import ForgeError
from forgeml.pipelines import _kinds as kinds
from forgeml.pipelines import _store as s
from forgeml.pipelines._duration import parse_duration
from forgeml.pipelines._expr import Scope, resolve
from forgeml.pipelines._validate import Graph, compile_definition

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

log = logging.getLogger("forgeml.pipelines")
KIND = "pipeline"
CAPACITY = {"SageMaker.CAPACITY_ERROR", "SageMaker.JOB_CAPACITY_ERROR"}
DEFAULT_RETRY = {"ExceptionType": ["Step.SERVICE_FAULT", "Step.THROTTLING"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 5}


def job_name(execution: str, step: str, attempt: int) -> str:
    """The job of one attempt of one step: the same name whichever driver submits it."""
    clean = re.sub(r"[^A-Za-z0-9]+", "-", step).strip("-")[:30] or "step"
    return f"pl-{execution}-{clean}-{hashlib.sha1(step.encode()).hexdigest()[:4]}-{attempt}"


class Driver:
    """Drives executions of one workspace (:meth:`tick` once, :meth:`run` in a loop)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.store = s.ExecutionStore(ws.metadata)
        self.owner = s.me()
        self._graphs: dict[tuple[str, int], Graph] = {}

    def graph(self, ex: s.ExecutionRecord) -> Graph:
        key = (ex.pipeline, ex.version)
        if key not in self._graphs:
            record = self.ws.metadata.get_resource(KIND, ex.pipeline, ex.version)
            self._graphs[key] = compile_definition(record.spec["definition"])
        return self._graphs[key]

    def _view(self, ex: s.ExecutionRecord) -> Workspace:
        if ex.origin == "network":  # what a network caller defined or started runs with its access
            from forgeml.core.access import Access

            return self.ws.with_access(Access.network(self.ws.settings))
        return self.ws

    def scope(self, ex: s.ExecutionRecord, rows: dict[str, s.StepRecord]) -> Scope:
        variables = {"StartDateTime": iso(ex.created_at), "CurrentDateTime": iso(time.time()), "PipelineName": ex.pipeline,
                     "PipelineArn": ex.arn.rpartition("/execution/")[0], "PipelineExecutionId": ex.id,
                     "PipelineExecutionArn": ex.arn}  # fmt: skip
        return Scope(dict(ex.parameters), variables, {n: r.properties for n, r in rows.items() if r.status == s.SUCCEEDED})

    # the tick ----------------------------------------------------------------------------------
    def tick(self) -> int:
        """Advance every active execution once; returns how many are still active."""
        active = 0
        for ex in self.store.list(status=list(s.ACTIVE)):
            try:
                if self.advance(ex).is_active:
                    active += 1
            except Exception:  # one broken execution must not stop the others
                log.exception("pipeline execution %s: tick failed", ex.id)
        return active

    def advance(self, ex: s.ExecutionRecord) -> s.ExecutionRecord:
        """Move one execution forward as far as it can go now."""
        if not ex.is_active or not self.store.claim(ex, self.owner):
            return ex
        graph, ws = self.graph(ex), self._view(ex)
        rows = self.store.steps(ex.id)
        for name, row in list(rows.items()):
            if row.status in s.STEP_ACTIVE:
                rows[name] = self._progress(ws, ex, graph, row, rows) or rows[name]
        ex = self.store.get(ex.id)
        active = [r for r in rows.values() if r.status in s.STEP_ACTIVE]
        if ex.status == s.STOPPING:
            for row in active:
                self._stop_step(ws, ex, graph, row)
            if not [r for r in self.store.steps(ex.id).values() if r.status in s.STEP_ACTIVE]:
                return self.store.set_status(ex, s.STOPPED, expected=(s.STOPPING,)) or self.store.get(ex.id)
            return ex
        failed = [r for r in rows.values() if r.status in (s.FAILED, s.STOPPED)]
        if failed:
            if not active:
                return self.store.set_status(ex, s.FAILED, expected=(s.EXECUTING,), failure_reason=self._reason(failed)) or self.store.get(ex.id)
            return ex
        limit = ex.max_parallel or graph.max_parallel or 10_000
        for name in self._ready(graph, rows):
            if len(active) >= limit:
                break
            row = self.store.insert_step(ex, name, graph.steps[name]["Type"])
            if row is None:
                continue
            rows[name] = self._progress(ws, ex, graph, row, rows) or row
            if rows[name].status in s.STEP_ACTIVE:
                active.append(rows[name])
            if rows[name].status == s.SUCCEEDED:  # an in-process step: what it unblocks may start now
                return self.advance(self.store.get(ex.id))
        if not active and not self._ready(graph, rows) and not [r for r in rows.values() if r.status in (s.FAILED, s.STOPPED)]:
            return self.store.set_status(ex, s.SUCCEEDED, expected=(s.EXECUTING,)) or self.store.get(ex.id)
        if [r for r in rows.values() if r.status in (s.FAILED, s.STOPPED)] and not active:
            return self.advance(self.store.get(ex.id))
        return self.store.get(ex.id)

    @staticmethod
    def _reason(failed: list[s.StepRecord]) -> str:
        row = failed[0]
        if row.data.get("fail_step"):
            return row.failure_reason or f"Fail step {row.step!r}"
        return f"Step failure: {row.step}: {row.failure_reason or row.status}"

    def _dead(self, graph: Graph, rows: dict[str, s.StepRecord]) -> set[str]:
        """Steps that will not run: on the side of a condition not taken, or after such a step."""
        dead: set[str] = set()
        for name in graph.order:  # dependencies come first
            if name in graph.branch:
                cond, outcome = graph.branch[name]
                row = rows.get(cond)
                if row is not None and row.status == s.SUCCEEDED and row.properties.get("Outcome") != outcome:
                    dead.add(name)
            if graph.deps[name] & dead:
                dead.add(name)
        return dead

    def _ready(self, graph: Graph, rows: dict[str, s.StepRecord]) -> list[str]:
        dead = self._dead(graph, rows)
        return [n for n in graph.order if n not in rows and n not in dead
                and all(d in rows and rows[d].status == s.SUCCEEDED for d in graph.deps[n])]  # fmt: skip

    # one step ------------------------------------------------------------------------------------
    def _run(self, ws: Workspace, ex: s.ExecutionRecord, graph: Graph, row: s.StepRecord, rows: dict[str, s.StepRecord]) -> kinds.StepRun:
        step = graph.steps[row.step]
        scope = self.scope(ex, rows)
        args = step.get("Arguments") or {}
        if step["Type"] == "Condition":
            resolved: dict[str, Any] = {}
        else:
            resolved = resolve(args, scope)
        return kinds.StepRun(ws, ex, step, resolved, row, job_name(ex.id, row.step, row.attempt), scope)

    def _progress(self, ws: Workspace, ex: s.ExecutionRecord, graph: Graph, row: s.StepRecord,
                  rows: dict[str, s.StepRecord]) -> s.StepRecord | None:  # fmt: skip
        try:
            if row.status == s.STARTING:
                return self._start(ws, ex, graph, row, rows)
            if row.status == s.EXECUTING and row.next_at is not None:
                if time.time() < row.next_at:
                    return row
                again = self.store.update_step(ex, row, status=s.STARTING, attempt=row.attempt + 1, job=None, next_at=None,
                                               started_at=time.time())  # fmt: skip
                return None if again is None else self._start(ws, ex, graph, again, rows)
            if row.job and row.status in (s.EXECUTING, s.STOPPING):
                run = self._run(ws, ex, graph, row, rows)
                out = kinds.poll(run)
                if out.state == "running":
                    return row
                if row.status == s.STOPPING and out.state != "succeeded":
                    return self.store.update_step(ex, row, status=s.STOPPED, failure_reason=out.reason)
                return self._settle(ws, ex, graph, row, out)
        except (ForgeError, LookupError, TypeError, ValueError, OSError) as exc:  # a missing property, a refused submit, ...
            return self._settle(ws, ex, graph, row, kinds.Outcome("failed", reason=str(exc), exception_type=_fault(exc)))  # fmt: skip
        return row

    def _start(self, ws: Workspace, ex: s.ExecutionRecord, graph: Graph, row: s.StepRecord,
               rows: dict[str, s.StepRecord]) -> s.StepRecord | None:  # fmt: skip
        run = self._run(ws, ex, graph, row, rows)
        step = graph.steps[row.step]
        cache = step.get("CacheConfig") or {}
        if cache.get("Enabled") and row.cache_key is None:
            key = kinds.cache_key(run)
            if key is not None:
                since = time.time() - parse_duration(cache["ExpireAfter"]) if cache.get("ExpireAfter") else None
                hit = self.store.cached(ex.pipeline, row.step, key, since)
                if hit is not None and hit.execution != ex.id:
                    source = (hit.cache_hit or {}).get("SourcePipelineExecutionArn") or f"{ex.arn.rpartition('/')[0]}/{hit.execution}"
                    return self.store.update_step(ex, row, status=s.SUCCEEDED, cache_key=key, properties=hit.properties,
                                                  job=hit.job, cache_hit={"SourcePipelineExecutionArn": source})  # fmt: skip
                row = self.store.update_step(ex, row, cache_key=key) or row
        inputs = _refs(run.args) + ([f"job/{run.args['TrainingJobName']}"] if run.args.get("TrainingJobName") else [])
        if inputs and row.data.get("inputs") != inputs:
            row = self.store.update_step(ex, row, data={**row.data, "inputs": inputs}) or row
        out = kinds.start(run)
        if step["Type"] == "Callback" and out.state == "running":
            token = secrets.token_hex(16)
            message = {"token": token, "arguments": run.args.get("Inputs") or {}, "step": row.step, "execution": ex.id,
                       "outputParameters": [o["OutputName"] for o in run.args.get("OutputParameters") or []]}  # fmt: skip
            return self.store.update_step(ex, row, status=s.EXECUTING, token=token, data={**row.data, "callback": True},
                                          events=[(s.CALLBACK_EVENT, message)])  # fmt: skip
        if out.state == "running":
            return self.store.update_step(ex, row, status=s.EXECUTING, job=out.job)
        return self._settle(ws, ex, graph, row, out)

    def _settle(self, ws: Workspace, ex: s.ExecutionRecord, graph: Graph, row: s.StepRecord, out: kinds.Outcome) -> s.StepRecord | None:
        if out.state == "succeeded":
            done = self.store.update_step(ex, row, expected=tuple(s.STEP_ACTIVE), status=s.SUCCEEDED, properties=out.properties,
                                          job=out.job or row.job, failure_reason=None)  # fmt: skip
            if done is not None:
                self._lineage(ex, done)
            return done
        step = graph.steps[row.step]
        policy, index = self._policy(step, out.exception_type)
        data = {**row.data, **out.data}
        if policy is not None:
            counts = dict(data.get("retries") or {})
            k = int(counts.get(str(index), 0))
            if policy.get("ExpireAfterMin") is not None:
                allowed = time.time() - (row.first_started_at or time.time()) < policy["ExpireAfterMin"] * 60
            else:
                allowed = k < int(policy.get("MaxAttempts", 5))
            if allowed:
                delay = float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2.0)) ** k
                counts[str(index)] = k + 1
                history = [*data.get("attempts", []), {"attempt": row.attempt, "job": out.job or row.job, "reason": out.reason,
                                                        "exception_type": out.exception_type}]  # fmt: skip
                return self.store.update_step(ex, row, expected=tuple(s.STEP_ACTIVE), status=s.EXECUTING, next_at=time.time() + delay,
                                              failure_reason=out.reason, data={**data, "retries": counts, "attempts": history})  # fmt: skip
        return self.store.update_step(ex, row, expected=tuple(s.STEP_ACTIVE), status=s.FAILED, failure_reason=out.reason,
                                      job=out.job or row.job, data=data)  # fmt: skip

    @staticmethod
    def _policy(step: dict[str, Any], exception_type: str | None) -> tuple[dict[str, Any] | None, int]:
        if exception_type is None:
            return None, -1
        policies = step.get("RetryPolicies") or []
        same = CAPACITY if exception_type in CAPACITY else {exception_type}  # the DG's and the schema's spelling
        for i, p in enumerate(policies):
            if same & set(p.get("ExceptionType", [])):
                return p, i
        if exception_type in DEFAULT_RETRY["ExceptionType"] and step["Type"] in ("Processing", "Training", "Transform", "RegisterModel"):
            return DEFAULT_RETRY, len(policies)
        return None, -1

    def _stop_step(self, ws: Workspace, ex: s.ExecutionRecord, graph: Graph, row: s.StepRecord) -> None:
        if row.status == s.STOPPING:
            return
        if row.data.get("callback"):  # the callback's receiver decides: a Stopping message, then wait
            if not row.data.get("stop_sent"):
                msg = {"token": row.token, "Status": "Stopping", "step": row.step, "execution": ex.id}
                self.store.update_step(ex, row, status=s.STOPPING, data={**row.data, "stop_sent": True}, events=[(s.CALLBACK_EVENT, msg)])
            return
        if row.job is None:  # not started yet, or waiting out a retry interval
            self.store.update_step(ex, row, status=s.STOPPED)
            return
        moved = self.store.update_step(ex, row, status=s.STOPPING)
        if moved is not None:
            kinds.stop(kinds.StepRun(ws, ex, graph.steps[row.step], {}, moved, moved.job or "", self.scope(ex, {})))

    def _lineage(self, ex: s.ExecutionRecord, row: s.StepRecord) -> None:
        """Execution -> step -> its outputs; the step's inputs -> step (jobs record their own too)."""
        node = f"job/{row.job}" if row.job else f"{ex.ref}/step/{row.step}"
        edges = [EdgeRecord(ex.ref, node, "step", row.job)]
        edges += [EdgeRecord(ref, node, "input", row.job) for ref in row.data.get("inputs") or [] if ref != node]
        for ref in _refs(row.properties):
            if ref != node:
                edges.append(EdgeRecord(node, ref, "output", row.job))
        try:
            self.ws.metadata.add_edges(edges)
        except ForgeError:
            log.warning("pipeline execution %s: lineage of %s not recorded", ex.id, row.step)

    # the loop ------------------------------------------------------------------------------------
    def run(self, interval: float = 1.0, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the store briefly unreachable: next time
                log.exception("pipeline driver tick failed")
            stop.wait(interval)


def _refs(value: Any) -> list[str]:
    from forgeml.core.refs import is_reference

    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, str) and is_reference(value) and not value.startswith(("job/", "pipeline/")):
        return [value]
    return []


def _fault(exc: Exception) -> str | None:
    from forgeml.errors import BackendUnavailableError

    return "Step.SERVICE_FAULT" if isinstance(exc, BackendUnavailableError) else None


def start_thread(ws: Workspace, interval: float = 1.0) -> tuple[threading.Thread, threading.Event]:
    """The driver in a daemon thread (``forgeml server``); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=Driver(ws).run, args=(interval, stop), name="pipeline-driver", daemon=True)
    thread.start()
    return thread, stop


__all__ = ["KIND", "Driver", "job_name", "start_thread"]
