"""``ws.shadow_tests``: managed shadow tests (SageMaker's ``InferenceExperiment``, Type ShadowMode).

A shadow test is a durable resource of kind ``shadow-test``: the endpoint, its production variant
(``SourceModelVariantName``), one shadow model and variant name (``ShadowModelVariants``, exactly
one), the sampling percentage, and a schedule (start, end; 7 days by default, at most 30; §9.8).
Statuses are InferenceExperiment's::

    Creating -> Created (scheduled later) -> Starting -> Running -> Stopping -> Completed
                                        \\-> Cancelled (stopped before it started, or cancelled)

Starting updates the endpoint to a new version whose config adds the shadow variant (a plain
update: the new version is healthy before the old one stops, so no request is dropped);
stopping updates it back without the shadow and freezes the comparison report
(serving/_shadow_report.py) into the record. :meth:`promote` then deploys the shadow model as the
production variant through the rollout machinery (blue/green or rolling, with alarm rollback);
:meth:`stop` discards it. Every step records its intent before it acts, and each action checks
the endpoint first (the shadow already there, or already gone), so :meth:`tick`, which
``forgeml server`` runs with its alarm loop, finishes a step whose driving process died and
starts and ends tests on their schedule.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import validate_name
from forgeml.core.records import ResourceRecord
from forgeml.errors import (
    AlreadyExistsError,
    ConflictError,
    ForgeError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from forgeml.serving._shadow_report import compare, read_pairs

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

KIND = "shadow-test"
DEFAULT_SECONDS = 7 * 86400
MAX_SECONDS = 30 * 86400
ACTIVE = ("Creating", "Created", "Starting", "Running", "Stopping")
PROBLEM_TYPES = ("auto", "classification", "regression")


class ShadowTestService:
    """Create, run, report on, promote and stop shadow tests."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.metadata

    # reading ----------------------------------------------------------------------------------
    def get(self, name: str) -> ResourceRecord:
        """The shadow test ``name`` (``NAME`` or ``shadow-test/NAME``).

        Raises:
            NotFoundError: no such shadow test.
        """
        name = name.removeprefix(f"{KIND}/")
        found = self.store.list_resources(KIND, name=name, limit=1)
        if not found:
            raise NotFoundError(f"shadow test {name!r} does not exist")
        return found[0]

    def list(self, endpoint: str | None = None) -> list[ResourceRecord]:
        """Every shadow test (of ``endpoint``), newest first."""
        out = self.store.list_resources(KIND)
        return [r for r in out if endpoint is None or r.spec["endpoint"] == endpoint]

    def report(self, name: str) -> dict[str, Any]:
        """The comparison report: frozen once the test stopped, live while it runs."""
        record = self.get(name)
        if record.data.get("report") is not None:
            return dict(record.data["report"])
        return self._compute(record)

    # create -----------------------------------------------------------------------------------
    def create(
        self, name: str, endpoint: str, model: str, *, sampling_percentage: float = 100.0,
        start: float | None = None, end: float | None = None, duration_seconds: float | None = None,
        production_variant: str | None = None, shadow_variant: str | None = None, problem_type: str = "auto",
    ) -> ResourceRecord:  # fmt: skip
        """Create a shadow test; it starts now (returns Running) or at ``start`` (returns Created).

        Args:
            model: the shadow model: a registry reference (``loans:3``) or a package folder.
            sampling_percentage: the share of the production variant's requests copied, 0-100.
            start, end: Unix times; ``end`` or ``duration_seconds`` (default 7 days, at most 30).
            shadow_variant: the shadow's variant name (default: the test's name).
            problem_type: how answers are compared (``auto`` reads the answers' fields).

        Raises:
            ValidationError: a bad name, schedule, percentage or variant. NotFoundError: no such
            endpoint. AlreadyExistsError: the name is taken. InvalidTransitionError: the endpoint
            runs another shadow test or is not InService.
        """
        from forgeml.serving._config import VariantConfig

        validate_name(name, "shadow test name")
        self.ws.registry.package(model, field="model")  # the caller may name this model (checked before anything else)
        if self.store.list_resources(KIND, name=name, limit=1):
            raise AlreadyExistsError(f"shadow test {name!r} already exists")
        current = self.ws.endpoints.get(endpoint)
        variants = [v["name"] for v in current.spec["variants"]]
        source = production_variant or variants[0]
        if source not in variants:
            raise ValidationError(f"endpoint {current.name!r} has no variant {source!r} (variants: {', '.join(variants)})")
        shadow = shadow_variant or name
        if shadow in variants:
            raise ValidationError(f"shadow variant name {shadow!r} is a production variant of endpoint {current.name!r}")
        try:
            VariantConfig(name=shadow, model=model)
        except Exception as exc:  # pydantic's message, one line
            raise ValidationError(f"shadow variant: {str(exc).splitlines()[-1].strip()}") from None
        if not 0 <= float(sampling_percentage) <= 100:
            raise ValidationError(f"sampling_percentage must be 0-100, got {sampling_percentage}")
        if problem_type not in PROBLEM_TYPES:
            raise ValidationError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {problem_type!r}")
        now = time.time()
        begin = now if start is None else float(start)
        if end is not None and duration_seconds is not None:
            raise ValidationError("give end or duration_seconds, not both")
        finish = float(end) if end is not None else begin + float(duration_seconds or DEFAULT_SECONDS)
        if finish <= begin:
            raise ValidationError("the shadow test must end after it starts")
        if finish - begin > MAX_SECONDS:
            raise ValidationError(f"a shadow test lasts at most 30 days ({MAX_SECONDS} s), got {finish - begin:.0f} s")
        if finish <= now:
            raise ValidationError("the shadow test would end in the past")
        busy = [r.name for r in self.list(current.name) if r.status in ACTIVE]
        if busy:
            raise InvalidTransitionError(f"endpoint {current.name!r} already runs shadow test {busy[0]!r}")
        if current.status != "InService":
            raise InvalidTransitionError(f"endpoint {current.name!r} is {current.status}; a shadow test needs InService")
        spec = {"endpoint": current.name, "production_variant": source, "shadow_variant": shadow, "model": model,
                "sampling_percentage": float(sampling_percentage), "start": begin, "end": finish,
                "problem_type": problem_type}  # fmt: skip
        record = self.store.create_resource(ResourceRecord(KIND, name, 1, "Creating", spec=spec, data={"steps": []}))
        self._event(record, "ShadowTestCreated", {"endpoint": current.name, "start": begin, "end": finish})
        if begin > now:
            return self._set(record, "Created", "scheduled")
        return self._start(self._set(record, "Created", "created"))

    # driving ----------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[str]:
        """Start tests that are due, stop tests that ended, finish steps whose driver died;
        returns the names of the tests it moved (``forgeml server`` calls this)."""
        now = time.time() if now is None else now
        moved = []
        for record in self.store.list_resources(KIND):
            try:
                if record.status == "Created" and record.spec["start"] <= now:
                    self._start(record)
                elif record.status == "Running" and record.spec["end"] <= now:
                    self._stop(record, "Completed", "the schedule ended")
                elif record.status in ("Starting", "Stopping") and not _alive(record.data.get("driver")):
                    if record.status == "Starting":
                        self._start(record)
                    else:
                        self._stop(record, record.data.get("final_status") or "Completed", "finished after a restart")
                else:
                    continue
            except ForgeError as exc:  # the endpoint is busy: try again on the next tick
                self.store.update_resource(KIND, record.name, 1, data={"last_error": exc.message})
                continue
            moved.append(record.name)
        return moved

    def stop(self, name: str, *, cancel: bool = False) -> ResourceRecord:
        """End the test and discard the shadow (``StopInferenceExperiment`` with the shadow's
        action Remove): Completed, or Cancelled with ``cancel`` or before it started.

        Raises:
            InvalidTransitionError: the test has ended already.
        """
        record = self.get(name)
        if record.status in ("Creating", "Created"):
            return self._set(record, "Cancelled", "cancelled before it started", ended_at=time.time())
        if record.status not in ("Running", "Starting", "Stopping"):
            raise InvalidTransitionError(f"shadow test {record.name!r} is {record.status}; only a running test can be stopped")
        return self._stop(record, "Cancelled" if cancel else "Completed", "stopped")

    def promote(self, name: str, *, deployment_config: dict[str, Any] | None = None) -> ResourceRecord:
        """Make the shadow model the production variant's model (the shadow's action Promote),
        through ``endpoints.update`` with ``deployment_config`` (default: blue/green all at once;
        a canary, linear or rolling config with rollback alarms works as for any update). A
        running test is stopped first; its report is kept.

        Raises:
            InvalidTransitionError: the test was cancelled or never ran.
        """
        record = self.get(name)
        if record.status in ("Running", "Starting", "Stopping"):
            record = self._stop(record, "Completed", "stopped to promote the shadow")
        if record.status != "Completed" or record.data.get("decision"):
            raise InvalidTransitionError(f"shadow test {record.name!r} is {record.status}"
                                         f"{' and ' + record.data['decision']['action'] if record.data.get('decision') else ''}; "
                                         "promote needs a completed test whose shadow was not promoted")  # fmt: skip
        spec = record.spec
        current = self.ws.endpoints.get(spec["endpoint"])
        cfg = _without_shadow(current.spec, spec["shadow_variant"])
        cfg["variants"] = [{**v, "model": spec["model"]} if v["name"] == spec["production_variant"] else v for v in cfg["variants"]]
        dep = deployment_config or {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}}}
        out = self.ws.endpoints.update(current.name, cfg, deployment_config=dep)
        outcome = (out.data.get("last_deployment") or {}).get("status", "Completed")
        decision = {"action": "Promote", "endpoint_version": out.version, "deployment": outcome,
                    "reason": (out.data.get("last_deployment") or {}).get("reason")}  # fmt: skip
        record = self.store.update_resource(KIND, record.name, 1, data={"decision": decision})
        self._event(record, "ShadowTestPromoted", decision)
        return record

    # steps --------------------------------------------------------------------------------------
    def _start(self, record: ResourceRecord) -> ResourceRecord:
        spec = record.spec
        record = self._set(record, "Starting", f"add shadow variant {spec['shadow_variant']} to endpoint {spec['endpoint']}",
                           driver=_me())  # fmt: skip
        try:
            current = self.ws.endpoints.get(spec["endpoint"])
            if not any(s["name"] == spec["shadow_variant"] for s in current.spec.get("shadow_variants") or []):
                shutil.rmtree(self._pairs_dir(record), ignore_errors=True)  # an earlier test's pairs (its report is frozen)
                cfg = _without_shadow(current.spec, spec["shadow_variant"])
                cfg["shadow_variants"] = [*cfg.get("shadow_variants", []), {
                    "name": spec["shadow_variant"], "model": spec["model"],
                    "source_variant": spec["production_variant"], "sampling_percentage": spec["sampling_percentage"],
                }]  # fmt: skip
                current = self.ws.endpoints.update(current.name, cfg)
        except (ValidationError, NotFoundError) as exc:  # a model or endpoint that will not do: for good
            self._set(record, "Cancelled", f"could not start: {exc.message}", driver=None, failure_reason=exc.message,
                      ended_at=time.time())  # fmt: skip
            raise
        except ForgeError as exc:  # the endpoint is busy: the next tick tries again
            self._set(record, "Created", f"could not start yet: {exc.message}", driver=None, last_error=exc.message)
            raise
        return self._set(record, "Running", f"running on endpoint version {current.version}",
                         started_at=time.time(), endpoint_version=current.version)  # fmt: skip

    def _stop(self, record: ResourceRecord, final: str, why: str) -> ResourceRecord:
        spec = record.spec
        record = self._set(record, "Stopping", f"{why}: remove shadow variant {spec['shadow_variant']}", driver=_me(),
                           final_status=final, ended_at=record.data.get("ended_at") or time.time())  # fmt: skip
        report = self._compute(record)  # before the shadow goes: every pair written so far
        try:
            current = self.ws.endpoints.get(spec["endpoint"])
            if any(s["name"] == spec["shadow_variant"] for s in current.spec.get("shadow_variants") or []):
                if current.status != "InService":
                    raise ConflictError(f"endpoint {current.name!r} is {current.status}; the shadow is removed once it is InService")
                self.ws.endpoints.update(current.name, _without_shadow(current.spec, spec["shadow_variant"]))
        except NotFoundError:
            pass  # the endpoint was deleted: nothing left to remove
        except ForgeError:
            self.store.update_resource(KIND, record.name, 1, data={"driver": None})  # the next tick tries again
            raise
        record = self._set(record, final, "shadow removed", report=report)
        self._event(record, f"ShadowTest{final}", {"requests": report["requests"]})
        return record

    # internals --------------------------------------------------------------------------------
    def _pairs_dir(self, record: ResourceRecord) -> Any:
        return self.ws.endpoints.root / record.spec["endpoint"] / "shadow" / record.spec["shadow_variant"]

    def _compute(self, record: ResourceRecord) -> dict[str, Any]:
        from forgeml.security import envelope_for

        start = record.data.get("started_at")
        if start is None:
            return compare([], record.spec.get("problem_type", "auto"))
        pairs = list(read_pairs(self._pairs_dir(record), record.spec["endpoint"], envelope_for(self.ws.settings), float(start),
                                record.data.get("ended_at")))  # fmt: skip
        out = compare(pairs, record.spec.get("problem_type", "auto"))
        out["production_variant"], out["shadow_variant"] = record.spec["production_variant"], record.spec["shadow_variant"]
        return out

    def _set(self, record: ResourceRecord, status: str, step: str, **data: Any) -> ResourceRecord:
        steps = list(self.store.get_resource(KIND, record.name, 1).data.get("steps") or [])
        steps.append({"status": status, "step": step, "at": time.time()})
        out = self.store.update_resource(KIND, record.name, 1, status=status, data={"steps": steps, **data})
        return out

    def _event(self, record: ResourceRecord, kind: str, data: dict[str, Any]) -> None:
        self.store.append_event(record.ref, kind, {"shadow_test": record.name, "endpoint": record.spec["endpoint"], **data})


def _without_shadow(spec: dict[str, Any], shadow: str) -> dict[str, Any]:
    cfg = {k: v for k, v in spec.items()}
    cfg["shadow_variants"] = [s for s in spec.get("shadow_variants") or [] if s["name"] != shadow]
    return cfg


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": os.uname().nodename}


def _alive(driver: dict[str, Any] | None) -> bool:
    if not driver or driver.get("host") != os.uname().nodename:
        return bool(driver)  # another host's driver: not ours to judge
    try:
        os.kill(int(driver["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True  # alive (in this process: another thread may be driving it right now)


__all__ = ["KIND", "ShadowTestService"]
