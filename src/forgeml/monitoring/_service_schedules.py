"""``ws.monitoring`` schedules: create, list, stop, start them, and list their executions.

    ws.monitoring.create_schedule("loans-hourly", baseline="loans", endpoint="loans-ep",
                                  cron=forgeml.monitoring.hourly())
    ws.monitoring.schedule_executions("loans-hourly")   # one per window, newest first
    ws.monitoring.run_scheduler_once()                  # what ``forgeml monitor scheduler`` loops
"""

from __future__ import annotations

import builtins
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import validate_name
from forgeml.core.records import ResourceRecord
from forgeml.errors import ValidationError
from forgeml.monitoring import _schedule as sc

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

# job status -> execution status (a completed job's execution says Completed or CompletedWithViolations)
_JOB_TO_EXECUTION = {"Pending": "Pending", "InProgress": "InProgress", "Stopping": "Stopping", "Stopped": "Stopped",
                     "Failed": "Failed"}  # fmt: skip


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class ScheduleMixin:
    """The schedule half of :class:`~forgeml.monitoring.MonitoringService`."""

    ws: Workspace

    def create_schedule(
        self,
        name: str,
        *,
        baseline: Any = None,
        endpoint: str,
        cron: str = "0 * * * *",
        variant: str | None = None,
        monitoring_type: str = "DataQuality",
        constraints: Any = None,
        start_time: Any = None,
        model_quality: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> ResourceRecord:
        """Create a monitoring schedule (status ``Pending`` until a scheduler takes it).

        Args:
            name: the schedule's name; its executions are stored under it, a version per window.
            baseline: a ``monitoring-baseline`` reference, resolved now to one version.
            endpoint: the endpoint whose captured traffic each window reads.
            cron: five-field cron (UTC), at most hourly; ``hourly()``/``daily(h)`` or the words.
            start_time: no window before this time (ISO-8601; default now). An earlier time
                makes the scheduler catch up on the hours since.
            constraints: an override constraints document (dict, .json or .yaml file); for
                ModelQuality its metric constraints.
            model_quality: for ModelQuality (no baseline): ``problem_type`` and optionally
                ``inference_attribute``, ``probability_attribute``, ``probability_threshold``.

        Raises:
            ValidationError: a bad name, cron, type, time or constraints.
            AlreadyExistsError: a schedule of that name exists.
            NotFoundError: no such baseline or endpoint.
        """
        from forgeml.monitoring._constraints import load
        from forgeml.monitoring._sources import parse_time

        validate_name(name, "schedule name")
        if monitoring_type not in sc.MONITORING_TYPES:
            raise ValidationError(f"monitoring_type: {monitoring_type!r} is not one of {', '.join(sc.MONITORING_TYPES)}")
        expression = sc.parse_cron(cron)
        record = self.ws.endpoints.get(endpoint)
        override, mq, base_ref = None, None, None
        if monitoring_type == "ModelQuality":
            from forgeml.monitoring._quality import parse_constraints
            from forgeml.monitoring._service_quality import quality_config

            if not isinstance(model_quality, dict) or set(model_quality) - {"problem_type", "inference_attribute",
                                                                          "probability_attribute", "probability_threshold", "estimator"}:  # fmt: skip
                raise ValidationError("model_quality: give {'problem_type': ..., 'inference_attribute', 'probability_attribute', 'probability_threshold'}")
            mq = quality_config(model_quality.get("problem_type", ""), model_quality.get("inference_attribute"),
                                model_quality.get("probability_attribute"), model_quality.get("probability_threshold"),
                                model_quality.get("estimator"), self.ws)  # fmt: skip
            if constraints is not None and not isinstance(constraints, dict):
                from forgeml.monitoring._constraints import read_document

                self.ws.access.check_source(constraints, "constraints")
                constraints = read_document(constraints)
            parse_constraints(constraints, mq["problem_type"])
            override = constraints
            if baseline is not None:
                raise ValidationError("baseline: a ModelQuality schedule takes constraints, not a data-quality baseline")
        else:
            from forgeml.monitoring._service_clarify import baseline_type

            if baseline is None:
                raise ValidationError(f"baseline: a {monitoring_type} schedule needs a monitoring baseline")
            base = self.ws.monitoring.get(baseline)
            if baseline_type(base) != monitoring_type:
                raise ValidationError(f"baseline: {base.ref} is a {baseline_type(base)} baseline, not a {monitoring_type} one")
            base_ref = base.ref
            if constraints is not None and monitoring_type != "DataQuality":
                raise ValidationError(f"constraints: a {monitoring_type} schedule takes its constraints from its baseline")
            if constraints is not None:
                if not isinstance(constraints, dict):
                    self.ws.access.check_source(constraints, "constraints")
                override = load(constraints).document()
        start = parse_time(start_time, "start_time")
        begin = start.timestamp() if start else time.time()
        spec = {"monitoring_type": monitoring_type, "baseline": base_ref, "endpoint": record.name, "variant": variant,
                "cron": expression, "constraints": override, "start_time": begin, "model_quality": mq}  # fmt: skip
        created = self.ws.metadata.create_resource(
            ResourceRecord(kind=sc.SCHEDULE_KIND, name=name, version=1, status=sc.PENDING, spec=spec,
                           data={"next_fire": sc.next_fire(expression, datetime.fromtimestamp(begin, UTC)).isoformat()},
                           tags=tags or {})
        )  # fmt: skip
        self.ws.lineage.record(f"endpoint/{record.name}", created.ref, "monitored")
        if base_ref:
            self.ws.lineage.record(base_ref, created.ref, "baseline")
        return created

    def schedule(self, name: Any) -> ResourceRecord:
        """The schedule ``name`` (or ``monitoring-schedule/NAME``).

        Raises:
            NotFoundError: no such schedule.
        """
        from forgeml.core.refs import name_of

        return self.ws.metadata.get_resource(sc.SCHEDULE_KIND, name_of(name, sc.SCHEDULE_KIND), 1)

    def schedules(self) -> builtins.list[ResourceRecord]:
        return self.ws.metadata.list_resources(sc.SCHEDULE_KIND)

    def stop_schedule(self, name: Any) -> ResourceRecord:
        """Stop a schedule: no new windows run (those already submitted finish)."""
        record = self.schedule(name)
        return self.ws.metadata.update_resource(sc.SCHEDULE_KIND, record.name, 1, status=sc.STOPPED)

    def start_schedule(self, name: Any) -> ResourceRecord:
        """Start a stopped (or failed) schedule again, from now on."""
        record = self.schedule(name)
        now = datetime.now(UTC)
        return self.ws.metadata.update_resource(sc.SCHEDULE_KIND, record.name, 1, status=sc.SCHEDULED,
                                                data={"resumed_at": now.timestamp(), "failure_reason": None,
                                                      "next_fire": sc.next_fire(record.spec["cron"], now).isoformat()})  # fmt: skip

    def run_scheduler_once(self, now: Any = None) -> builtins.list[str]:
        """One scheduler pass (what ``forgeml monitor scheduler`` repeats); the jobs submitted."""
        from forgeml.monitoring._scheduler import Scheduler
        from forgeml.monitoring._sources import parse_time

        when = None
        if now is not None:
            when = now if isinstance(now, datetime) else parse_time(now, "now")
        return Scheduler(self.ws).tick(when)

    def _submit_window(self, record: ResourceRecord, start: datetime, end: datetime, job_name: str) -> None:
        """Submit the execution job of one window of a schedule (the scheduler calls this)."""
        spec = record.spec
        service: Any = self
        if spec.get("monitoring_type") in ("ModelBias", "ModelExplainability"):
            config, inputs = service._clarify_job_config(spec["monitoring_type"], spec["baseline"], spec["endpoint"], start, end,
                                                         spec.get("variant"), record.name, dict(record.tags))  # fmt: skip
        elif spec.get("monitoring_type") == "ModelQuality":
            config, inputs = service._quality_job_config(job_name, spec["endpoint"], start, end, spec.get("variant"),
                                                         spec["model_quality"], spec.get("constraints"), record.name, dict(record.tags))  # fmt: skip
        else:
            config, inputs = service._check_config(job_name, spec["baseline"], None, spec["endpoint"], start, end,
                                                   spec.get("variant"), spec.get("constraints"), record.name, dict(record.tags))  # fmt: skip
        config["schedule"] = record.ref
        self.ws.jobs.submit("monitoring", service.entrypoint(spec.get("monitoring_type", "DataQuality")), config,
                            name=job_name, inputs=[*inputs, record.ref])  # fmt: skip
        now = datetime.now(UTC)
        self.ws.metadata.update_resource(sc.SCHEDULE_KIND, record.name, 1, data={
            "last_window": {"start": start.isoformat(), "end": end.isoformat(), "job": job_name},
            "next_fire": sc.next_fire(spec["cron"], max(now, end)).isoformat()})  # fmt: skip

    def schedule_executions(self, name: Any) -> builtins.list[dict[str, Any]]:
        """One entry per window of the schedule, newest first: its window, job, status
        (Pending, InProgress, Completed, CompletedWithViolations, Failed, Stopping, Stopped) and,
        once stored, the execution's reference."""
        from forgeml.errors import NotFoundError
        from forgeml.monitoring._jobs import EXECUTION_KIND
        from forgeml.monitoring._scheduler import Scheduler

        record = self.schedule(name)
        out = []
        for row in Scheduler(self.ws).claims(record.name):
            entry: dict[str, Any] = {"schedule": record.name, "window_start": _iso(row["window_start"]),
                                     "window_end": _iso(row["window_end"]), "scheduled_time": _iso(row["fire_time"]),
                                     "job": row["job"], "status": "Pending", "execution": None, "failure_reason": None}  # fmt: skip
            try:
                job = self.ws.jobs.get(row["job"])
            except NotFoundError:
                out.append(entry)
                continue
            entry["failure_reason"] = job.failure_reason
            if job.status == "Completed":
                ref = next((r for r in reversed(job.outputs) if r.startswith(EXECUTION_KIND + "/")), None)
                entry["execution"] = ref
                entry["status"] = self.ws.monitoring.execution(ref).status if ref else "Failed"
            else:
                entry["status"] = _JOB_TO_EXECUTION.get(job.status, job.status)
            out.append(entry)
        return out


__all__ = ["ScheduleMixin"]
