"""``ws.monitoring`` model quality: ground-truth uploads and model-quality executions.

    ws.monitoring.upload_ground_truth("loans-ep", "labels.jsonl")     # SageMaker's JSON Lines
    run = ws.monitoring.model_quality("loans-ep", problem_type="BinaryClassification")
    ws.monitoring.statistics(run, kind="monitoring-execution")["binary_classification_metrics"]
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import new_name, validate_name
from forgeml.errors import ValidationError

if TYPE_CHECKING:
    from forgeml.core.records import JobRecord, ResourceRecord
    from forgeml.core.workspace import Workspace


def quality_config(problem_type: str, inference_attribute: str | None, probability_attribute: str | None,
                   probability_threshold: float | None) -> dict[str, Any]:  # fmt: skip
    """The checked ``model_quality`` settings of an execution or schedule.

    Raises:
        ValidationError: an unknown problem type or a threshold outside [0, 1].
    """
    from forgeml.monitoring._quality import PROBLEMS

    if problem_type not in PROBLEMS:
        raise ValidationError(f"problem_type: {problem_type!r} is not one of {', '.join(PROBLEMS)}")
    if probability_threshold is not None and not (isinstance(probability_threshold, int | float) and 0 <= probability_threshold <= 1):
        raise ValidationError(f"probability_threshold: {probability_threshold!r} is not a number in [0, 1]")
    default = "prediction" if problem_type == "Regression" else "predicted_label"
    return {"problem_type": problem_type, "inference_attribute": inference_attribute or default,
            "probability_attribute": probability_attribute, "probability_threshold": probability_threshold}  # fmt: skip


class QualityMixin:
    """The model-quality half of :class:`~forgeml.monitoring.MonitoringService`."""

    ws: Workspace

    def upload_ground_truth(self, endpoint: str, data: Any, *, collected_at: Any = None) -> dict[str, Any]:
        """Store ground truth for an endpoint's captured requests.

        Args:
            data: JSON Lines text or bytes, a list of records (dicts), or a local .jsonl file.
            collected_at: the hour the labels were collected (ISO-8601; default now).

        Returns:
            ``{"endpoint", "records", "unknown_event_ids", "unknown_examples", "path"}``: ids that
            match no captured request are stored too (their request may be captured late) and counted.

        Raises:
            ValidationError: a bad line (named by number); nothing is written.
            NotFoundError: no such endpoint.
        """
        from forgeml.monitoring import _ground_truth as gt
        from forgeml.monitoring._sources import parse_time

        record = self.ws.endpoints.get(endpoint)
        if isinstance(data, list):
            lines: list[Any] = [json.dumps(r) if isinstance(r, dict) else r for r in data]
        elif isinstance(data, bytes | str) and (isinstance(data, bytes) or "\n" in data or data.lstrip().startswith("{")):
            lines = (data.decode() if isinstance(data, bytes) else data).splitlines()
        elif isinstance(data, str | Path):
            self.ws.access.check_source(data, "ground truth")
            path = Path(data).expanduser()
            if not path.is_file():
                from forgeml.errors import NotFoundError

                raise NotFoundError(f"ground truth file {data} does not exist")
            lines = path.read_text().splitlines()
        else:
            raise ValidationError("ground truth: give JSON Lines text, a list of records or a .jsonl file")
        records = gt.parse(lines)
        when: datetime | None = parse_time(collected_at, "collected_at")
        path = gt.write(gt.root(self.ws, record.name), records, when)
        known = gt.capture_ids(self.ws.endpoints.capture_dir(record.name), self.ws.artifacts.envelope)
        unknown = [r["id"] for r in records if r["id"] not in known]
        self.ws.metadata.append_event(f"endpoint/{record.name}", "GroundTruthUploaded",
                                      {"records": len(records), "unknown_event_ids": len(unknown)})  # fmt: skip
        return {"endpoint": record.name, "records": len(records), "unknown_event_ids": len(unknown),
                "unknown_examples": unknown[:5], "path": path.relative_to(self.ws.home).as_posix()}  # fmt: skip

    def _quality_job_config(self, job_name: str, endpoint: str, start_time: Any, end_time: Any, variant: str | None,
                            model_quality: dict[str, Any], constraints: Any, name: str | None,
                            tags: dict[str, str] | None) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
        from forgeml.monitoring._quality import parse_constraints
        from forgeml.monitoring._sources import resolve

        if constraints is not None and not isinstance(constraints, dict):
            from forgeml.monitoring._constraints import read_document

            self.ws.access.check_source(constraints, "constraints")
            constraints = read_document(constraints)
        parse_constraints(constraints, model_quality["problem_type"])
        source, ref = resolve(self.ws, endpoint=endpoint, start=start_time, end=end_time, variant=variant)
        name = validate_name(name or f"{source['endpoint']}-quality"[:63], "execution name")
        config = {"model_quality": model_quality, "constraints": constraints, "source": source, "source_ref": ref,
                  "name": name, "tags": tags or {}}  # fmt: skip
        return config, [ref] if ref else []

    def model_quality(
        self,
        endpoint: str,
        *,
        problem_type: str,
        start_time: Any = None,
        end_time: Any = None,
        variant: str | None = None,
        inference_attribute: str | None = None,
        probability_attribute: str | None = None,
        probability_threshold: float | None = None,
        constraints: Any = None,
        name: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        tags: dict[str, str] | None = None,
    ) -> ResourceRecord | JobRecord:
        """Run one model-quality execution: the window's captures merged with their ground truth.

        Args:
            problem_type: Regression, BinaryClassification or MulticlassClassification.
            inference_attribute: the prediction's key in a JSON output (index in CSV); default
                ``predicted_label`` (``prediction`` for regression).
            probability_attribute: the positive-class probability's key (binary ``auc``, curves).
            probability_threshold: predict 1 when the probability is at least this.
            constraints: ``{"<problem>_constraints": {metric: {"threshold", "comparison_operator"}}}``.
        """
        service: Any = self
        mq = quality_config(problem_type, inference_attribute, probability_attribute, probability_threshold)
        job_name = new_name("monitoring")
        config, inputs = self._quality_job_config(job_name, endpoint, start_time, end_time, variant, mq, constraints, name, tags)
        result: ResourceRecord | JobRecord = service._run("model_quality", config, job_name, inputs, wait, timeout)
        return result


__all__ = ["QualityMixin", "quality_config"]
