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
                   probability_threshold: float | None, estimator: str | None = None,
                   ws: Workspace | None = None) -> dict[str, Any]:  # fmt: skip
    """The checked ``model_quality`` settings of an execution or schedule.

    ``estimator``: a CBPE reference (``ws.monitoring.cbpe_baseline``) to estimate the window's
    metrics from its captured probabilities, labels or not (binary classification only).

    Raises:
        ValidationError: an unknown problem type, a threshold outside [0, 1], or an estimator
            that is not a CBPE reference. NotFoundError: no such estimator.
    """
    from forgeml.monitoring._quality import PROBLEMS

    if problem_type not in PROBLEMS:
        raise ValidationError(f"problem_type: {problem_type!r} is not one of {', '.join(PROBLEMS)}")
    if probability_threshold is not None and not (isinstance(probability_threshold, int | float) and 0 <= probability_threshold <= 1):
        raise ValidationError(f"probability_threshold: {probability_threshold!r} is not a number in [0, 1]")
    default = "prediction" if problem_type == "Regression" else "predicted_label"
    out = {"problem_type": problem_type, "inference_attribute": inference_attribute or default,
           "probability_attribute": probability_attribute, "probability_threshold": probability_threshold}  # fmt: skip
    if estimator is not None:
        from forgeml.evaluation._store import get_record
        from forgeml.monitoring._jobs import BASELINE_KIND

        if problem_type != "BinaryClassification":
            raise ValidationError(f"estimator: CBPE estimates binary classifiers only, not {problem_type}")
        if ws is None:
            raise ValidationError("estimator: needs a workspace to resolve")
        record = get_record(ws, BASELINE_KIND, estimator)
        if record.spec.get("estimator") != "CBPE":
            raise ValidationError(f"estimator: {record.ref} is not a CBPE reference (make one with cbpe_baseline)")
        out["estimator"] = record.ref
        out["probability_attribute"] = probability_attribute or "probability"
    return out


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
        estimator: str | None = None,
        name: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        tags: dict[str, str] | None = None,
    ) -> ResourceRecord | JobRecord:
        """Run one model-quality execution: the window's captures merged with their ground truth.

        With ``estimator`` (a CBPE reference) the execution also estimates the binary metrics of
        *every* captured row of the window from its probabilities (no labels needed), with
        sampling error and alerts, and puts the realized value of the labelled rows beside each
        (``statistics.json["binary_classification_estimates"]``); a window without any ground
        truth then completes with ``status_detail`` ``Estimated`` instead of ``NoData``.

        Args:
            problem_type: Regression, BinaryClassification or MulticlassClassification.
            inference_attribute: the prediction's key in a JSON output (index in CSV); default
                ``predicted_label`` (``prediction`` for regression).
            probability_attribute: the positive-class probability's key (binary ``auc``, curves).
            probability_threshold: predict 1 when the probability is at least this.
            constraints: ``{"<problem>_constraints": {metric: {"threshold", "comparison_operator"}}}``.
            estimator: a CBPE reference (see :meth:`cbpe_baseline`).
        """
        service: Any = self
        mq = quality_config(problem_type, inference_attribute, probability_attribute, probability_threshold, estimator, self.ws)
        job_name = new_name("monitoring")
        config, inputs = self._quality_job_config(job_name, endpoint, start_time, end_time, variant, mq, constraints, name, tags)
        result: ResourceRecord | JobRecord = service._run("model_quality", config, job_name, inputs, wait, timeout)
        return result

    def cbpe_baseline(
        self,
        data: Any = None,
        *,
        endpoint: str | None = None,
        start_time: Any = None,
        end_time: Any = None,
        variant: str | None = None,
        label: str = "label",
        probability: str = "probability",
        prediction: str | None = None,
        probability_threshold: float | None = None,
        chunks: int = 10,
        name: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        tags: dict[str, str] | None = None,
    ) -> ResourceRecord | JobRecord:
        """Fit a CBPE reference (label-free performance estimation) on labelled data.

        Args:
            data: a frame, dataset reference or local CSV/Parquet file with the ground truth
                (``label``), the model's positive-class probability (``probability``) and
                optionally its predicted label (``prediction``; else ``probability >=
                probability_threshold``, default 0.5).
            endpoint: instead of ``data``, an endpoint's captures of ``[start_time, end_time)``
                merged with their uploaded ground truth (``probability`` and ``prediction``
                name the keys of the captured output; ``prediction`` defaults to
                ``predicted_label``).
            chunks: reference chunks for the alert thresholds (mean ± 3 std of the realized
                metric over them).

        Returns:
            A ``monitoring-baseline`` (``spec.estimator == "CBPE"``) to pass as ``estimator=``
            to :meth:`model_quality` or a ModelQuality schedule.

        Raises:
            ValidationError: a bad source, a threshold outside [0, 1], too few rows.
        """
        service: Any = self
        if probability_threshold is not None and not (isinstance(probability_threshold, int | float) and 0 <= probability_threshold <= 1):
            raise ValidationError(f"probability_threshold: {probability_threshold!r} is not a number in [0, 1]")
        if isinstance(chunks, bool) or not isinstance(chunks, int) or not 2 <= chunks <= 100:
            raise ValidationError(f"chunks: {chunks!r} is not a whole number from 2 to 100")
        for what, value in (("label", label), ("probability", probability), ("prediction", prediction)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValidationError(f"{what}: give a column or attribute name")
        job_name = new_name("baseline")
        source, ref = service._source(job_name, data, endpoint, start_time, end_time, variant)
        from forgeml.evaluation._store import default_name

        name = validate_name(name or f"{default_name(ref, fallback='reference')}-cbpe"[:63], "baseline name")
        config = {"source": source, "source_ref": ref, "name": name, "probability_threshold": probability_threshold,
                  "columns": {"label": label, "probability": probability, "prediction": prediction}, "chunks": chunks,
                  "tags": tags or {}}  # fmt: skip
        result: ResourceRecord | JobRecord = service._run("cbpe_baseline", config, job_name, [ref] if ref else [], wait, timeout)
        return result


__all__ = ["QualityMixin", "quality_config"]
