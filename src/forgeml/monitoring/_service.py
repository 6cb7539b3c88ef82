"""``ws.monitoring``: baselines and data-quality monitoring executions (Model Monitor, §10).

    base = ws.monitoring.baseline("loans:3")                    # a dataset version (or a file, a frame)
    ws.monitoring.constraints(base)                             # constraints.json, to edit
    base = ws.monitoring.update_constraints(base, "c.yaml")      # a new version with the edits
    run = ws.monitoring.check(base, endpoint="loans-ep")        # the endpoint's captured traffic
    run.status                                                  # Completed | CompletedWithViolations
    ws.monitoring.violations(run)                               # constraint_violations.json

Both are jobs of kind ``monitoring`` (``ws.jobs`` lists, stops and reconciles them); with
``wait=True`` (the default) the stored resource is returned, else the job.
"""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import new_name, validate_name
from forgeml.errors import NotFoundError, ValidationError
from forgeml.evaluation._store import (
    default_name,
    get_record,
    json_bytes,
    read_document,
    store_result,
)
from forgeml.monitoring._jobs import BASELINE_KIND, EXECUTION_KIND
from forgeml.monitoring._service_clarify import ClarifyMonitorMixin
from forgeml.monitoring._service_quality import QualityMixin
from forgeml.monitoring._service_schedules import ScheduleMixin

if TYPE_CHECKING:
    from forgeml.core.records import JobRecord, ResourceRecord
    from forgeml.core.workspace import Workspace
    from forgeml.monitoring._constraints import Constraints

ENTRYPOINTS = {"baseline": "forgeml.monitoring._jobs:baseline_job", "check": "forgeml.monitoring._jobs:check_job",
               "model_quality": "forgeml.monitoring._quality_job:model_quality_job",
               "ModelBias": "forgeml.monitoring._clarify_job:model_bias_job",
               "ModelExplainability": "forgeml.monitoring._clarify_job:model_explainability_job",
               "cbpe_baseline": "forgeml.monitoring._cbpe_job:cbpe_baseline_job"}


class MonitoringService(ScheduleMixin, QualityMixin, ClarifyMonitorMixin):
    """Create baselines, run monitoring executions and schedules, read their documents."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    @staticmethod
    def entrypoint(monitoring_type: str) -> str:
        """The job entrypoint of one execution of a ``monitoring_type`` schedule."""
        if monitoring_type in ("ModelBias", "ModelExplainability"):
            return ENTRYPOINTS[monitoring_type]
        return ENTRYPOINTS["model_quality" if monitoring_type == "ModelQuality" else "check"]

    def _run(self, kind: str, config: dict[str, Any], job_name: str, inputs: list[str], wait: bool,
             timeout: float | None) -> ResourceRecord | JobRecord:  # fmt: skip
        job = self.ws.jobs.submit("monitoring", ENTRYPOINTS[kind], config, name=job_name, inputs=inputs)
        if not wait:
            return job
        job = self.ws.jobs.wait(job.name, timeout=timeout)
        record_kind = BASELINE_KIND if kind in ("baseline", "cbpe_baseline") else EXECUTION_KIND
        ref = next((r for r in reversed(job.outputs) if r.startswith(record_kind + "/")), None)
        if ref is None:
            raise NotFoundError(f"job {job.name!r} completed without storing a {record_kind}")
        return get_record(self.ws, record_kind, ref)

    def _source(self, job_name: str, data: Any, endpoint: str | None, start: Any, end: Any,
                variant: str | None) -> tuple[dict[str, Any], str | None]:  # fmt: skip
        from forgeml.monitoring._sources import resolve

        return resolve(self.ws, data=data, endpoint=endpoint, start=start, end=end, variant=variant,
                       workdir=self.ws.jobs.workdir(job_name))  # fmt: skip

    def baseline(
        self,
        data: Any = None,
        *,
        endpoint: str | None = None,
        start_time: Any = None,
        end_time: Any = None,
        variant: str | None = None,
        columns: list[str] | None = None,
        name: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        tags: dict[str, str] | None = None,
    ) -> ResourceRecord | JobRecord:
        """Start a baselining job: ``statistics.json`` and suggested ``constraints.json``.

        Args:
            data: a dataset reference (``loans:3``), a local CSV/Parquet file or a frame.
            endpoint: baseline an endpoint's captured traffic (hours in ``[start_time, end_time)``,
                one ``variant`` or all) instead of ``data``.
            columns: names for the captured payloads' positional values (CSV, JSON lists).
            name: the baseline's name (default: from the dataset, endpoint or ``baseline``).

        Raises:
            ValidationError / NotFoundError / ForbiddenError: a bad source (see ``_sources.resolve``).
            JobFailedError: ``wait`` and the job failed (e.g. no rows).
        """
        job_name = new_name("baseline")
        source, ref = self._source(job_name, data, endpoint, start_time, end_time, variant)
        name = validate_name(name or default_name(ref, fallback="baseline"), "baseline name")
        if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns)):
            raise ValidationError("columns must be a list of non-empty names")
        config = {"source": source, "source_ref": ref, "name": name, "columns": columns or [], "tags": tags or {}}
        return self._run("baseline", config, job_name, [ref] if ref else [], wait, timeout)

    def check(
        self,
        baseline: Any,
        data: Any = None,
        *,
        endpoint: str | None = None,
        start_time: Any = None,
        end_time: Any = None,
        variant: str | None = None,
        constraints: Any = None,
        name: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        tags: dict[str, str] | None = None,
    ) -> ResourceRecord | JobRecord:
        """Run one data-quality monitoring execution of a window against a baseline.

        Args:
            baseline: a ``monitoring-baseline`` reference (``loans``, ``loans:2``).
            data / endpoint / start_time / end_time / variant: the window, as for :meth:`baseline`.
            constraints: constraints to use instead of the baseline's (a dict, or a local .json /
                .yaml file); validated before the job starts.
            name: the execution's name; every run is its next version (default: the endpoint's
                or the baseline's name).

        Returns:
            The ``monitoring-execution`` resource, status ``Completed`` or
            ``CompletedWithViolations``; an empty window completes with ``data["status_detail"]
            == "NoData"``.
        """
        job_name = new_name("monitoring")
        config, inputs = self._check_config(job_name, baseline, data, endpoint, start_time, end_time, variant,
                                            constraints, name, tags)  # fmt: skip
        return self._run("check", config, job_name, inputs, wait, timeout)

    def _check_config(self, job_name: str, baseline: Any, data: Any, endpoint: str | None, start_time: Any, end_time: Any,
                      variant: str | None, constraints: Any, name: str | None,
                      tags: dict[str, str] | None) -> tuple[dict[str, Any], builtins.list[str]]:  # fmt: skip
        from forgeml.monitoring._constraints import load

        base = get_record(self.ws, BASELINE_KIND, baseline)
        if base.spec.get("estimator"):
            raise ValidationError(f"baseline: {base.ref} is a {base.spec['estimator']} reference for model quality, not a data-quality baseline")
        override = None
        if constraints is not None:
            if not isinstance(constraints, dict):
                self.ws.access.check_source(constraints, "constraints")
            override = load(constraints).document()
        source, ref = self._source(job_name, data, endpoint, start_time, end_time, variant)
        name = validate_name(name or (endpoint and source["endpoint"]) or base.name, "execution name")
        config = {"baseline": base.ref, "constraints": override, "source": source, "source_ref": ref, "name": name,
                  "tags": tags or {}}  # fmt: skip
        return config, [base.ref, *([ref] if ref else [])]

    # reading ----------------------------------------------------------------------------------
    def get(self, ref: Any, kind: str = BASELINE_KIND) -> ResourceRecord:
        if kind not in (BASELINE_KIND, EXECUTION_KIND):
            raise ValidationError(f"unknown kind {kind!r} ({BASELINE_KIND} or {EXECUTION_KIND})")
        return get_record(self.ws, kind, ref)

    def execution(self, ref: Any) -> ResourceRecord:
        return get_record(self.ws, EXECUTION_KIND, ref)

    def list(self, kind: str = BASELINE_KIND) -> list[ResourceRecord]:
        if kind not in (BASELINE_KIND, EXECUTION_KIND):
            raise ValidationError(f"unknown kind {kind!r} ({BASELINE_KIND} or {EXECUTION_KIND})")
        return self.ws.metadata.list_resources(kind)

    def executions(self, name: str | None = None) -> builtins.list[ResourceRecord]:
        """Every version of the executions named ``name`` (or all), newest first."""
        from forgeml.core.refs import name_of

        records = self.ws.metadata.list_resources(EXECUTION_KIND, name=name_of(name, EXECUTION_KIND) if name else None)
        return sorted(records, key=lambda r: (r.created_at, r.version), reverse=True)

    def _json(self, record: ResourceRecord, key: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(read_document(self.ws, record, key))
        return doc

    def statistics(self, ref: Any, kind: str = BASELINE_KIND) -> dict[str, Any]:
        """A baseline's (or, with ``kind="monitoring-execution"``, a window's) ``statistics.json``."""
        return self._json(self.get(ref, kind), "statistics")

    def constraints(self, ref: Any) -> dict[str, Any]:
        """A baseline's ``constraints.json``.

        Raises:
            ValidationError: a CBPE reference (it has thresholds in ``cbpe.json`` instead).
        """
        record = self.get(ref)
        if record.spec.get("estimator"):
            raise ValidationError(f"{record.ref} is a {record.spec['estimator']} reference: it has no constraints.json (see ws.monitoring.cbpe)")
        return self._json(record, "constraints")

    def cbpe(self, ref: Any) -> dict[str, Any]:
        """A CBPE reference's ``cbpe.json``: calibration, sampling-error components, thresholds.

        Raises:
            ValidationError: a baseline that is not a CBPE reference.
        """
        from forgeml.monitoring._cbpe_job import load_model

        return load_model(self.ws, self.get(ref).ref)

    def violations(self, ref: Any) -> dict[str, Any]:
        """An execution's ``constraint_violations.json``."""
        return self._json(self.execution(ref), "violations")

    def html(self, ref: Any) -> str:
        return read_document(self.ws, self.execution(ref), "html").decode()

    def update_constraints(self, baseline: Any, constraints: Any) -> ResourceRecord:
        """Store edited constraints (a dict, or a local .json / .yaml file) as the baseline's next
        version; its statistics are kept. Later checks of that version honour the edits.

        Raises:
            ValidationError: unknown keys, wrong types, or a feature the statistics do not have.
        """
        from forgeml.monitoring._constraints import load

        base = self.get(baseline)
        if base.spec.get("monitoring_type") in ("ModelBias", "ModelExplainability"):
            raise ValidationError(f"{base.ref} is a {base.spec['monitoring_type']} baseline: its constraints are its analysis; "
                                  "create a new baseline with the changed config (thresholds, threshold) instead")
        if base.spec.get("estimator"):
            raise ValidationError(f"{base.ref} is a {base.spec['estimator']} reference: it has no constraints to edit")
        if not isinstance(constraints, dict):
            self.ws.access.check_source(constraints, "constraints")
        parsed: Constraints = load(constraints)
        known = {f["name"] for f in self.statistics(base).get("features", [])}
        unknown = [f.name for f in parsed.features if f.name not in known]
        if unknown:
            raise ValidationError(f"constraints name feature(s) the baseline does not have: {', '.join(unknown)}")
        stats = read_document(self.ws, base, "statistics")
        return store_result(
            self.ws, BASELINE_KIND, base.name, spec={**base.spec, "edited_from": base.ref},
            data={k: v for k, v in base.data.items() if k != "artifacts"},
            documents={"statistics": (stats, "application/json"),
                       "constraints": (json_bytes(parsed.document()), "application/json")},
            inputs={"edited-from": base.ref}, tags=base.tags,
        )  # fmt: skip


__all__ = ["MonitoringService"]
