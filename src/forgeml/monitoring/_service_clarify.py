"""``ws.monitoring`` bias drift and feature attribution drift (ModelBias, ModelExplainability).

    base = ws.monitoring.bias_baseline("loans:3", {"label": "y", "label_values_or_threshold": [1],
                                                   "facet": [{"name_or_index": "sex", "value_or_threshold": ["F"]}]},
                                       model="loans:2")
    run = ws.monitoring.model_bias(base, endpoint="loans-ep")     # captures joined with ground truth
    shap = ws.monitoring.explainability_baseline("loans:3", model="loans:2")
    run = ws.monitoring.model_explainability(shap, endpoint="loans-ep")
    ws.monitoring.create_schedule("loans-bias", baseline=base, endpoint="loans-ep", monitoring_type="ModelBias")

Baselines are computed when asked (as ``ws.clarify`` computes its reports) and stored as
``monitoring-baseline`` versions whose ``spec.monitoring_type`` says which monitor they serve;
executions are jobs of kind ``monitoring``, like every other monitoring execution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import new_name, validate_name
from forgeml.errors import ValidationError
from forgeml.evaluation._store import default_name, get_record, json_bytes, jsonable, store_result
from forgeml.monitoring._jobs import BASELINE_KIND

if TYPE_CHECKING:
    from forgeml.core.records import JobRecord, ResourceRecord
    from forgeml.core.workspace import Workspace

CLARIFY_TYPES = ("ModelBias", "ModelExplainability")


def baseline_type(record: ResourceRecord) -> str:
    """The monitoring type a baseline serves (``DataQuality`` for a statistics/constraints one)."""
    return str(record.spec.get("monitoring_type") or "DataQuality")


class ClarifyMonitorMixin:
    """The bias and attribution drift half of :class:`~forgeml.monitoring.MonitoringService`."""

    ws: Workspace

    def bias_baseline(self, data: Any, config: dict[str, Any], *, model: Any = None, endpoint: str | None = None,
                      start_time: Any = None, end_time: Any = None, variant: str | None = None, name: str | None = None,
                      tags: dict[str, str] | None = None) -> ResourceRecord:  # fmt: skip
        """Post-training bias metrics of labelled data: the baseline a ModelBias monitor compares to.

        Args:
            data: a dataset reference, a local CSV/Parquet file or a frame, holding the inputs
                and the label column ``config["label"]``.
            config: Clarify's analysis config (``label``, ``label_values_or_threshold``,
                ``facet``, ``group_variable``, ``methods``) and the monitor's settings
                (``thresholds`` {metric: [low, high]}, ``default_tolerance``,
                ``bootstrap_samples``, ``confidence_level``, ``seed``, ``headers``,
                ``inference_attribute``, ``probability_attribute``, ``predicted_label``).
            model: the model whose predictions to measure (a registry reference or package);
                or give ``config["predicted_label"]``, a column of predicted labels.
            endpoint: instead of ``data``: an endpoint's captured traffic of hours in
                ``[start_time, end_time)`` (one ``variant`` or all), joined with its ground truth;
                the predictions are the captured ones (``config["headers"]`` names CSV values).

        Raises:
            ValidationError: a bad config, a label or facet column the data does not have.
        """
        from forgeml.clarify._service import predicted_labels
        from forgeml.evaluation._inputs import resolve_frame, resolve_model
        from forgeml.monitoring import _bias

        cfg = _bias.parse_config(config)
        if endpoint is not None:
            if data is not None or model is not None:
                raise ValidationError("give either data (and a model) or endpoint (captured traffic with its ground truth)")
            return self._bias_baseline_from_capture(cfg, endpoint, start_time, end_time, variant, name, tags)
        frame, data_ref = resolve_frame(self.ws, data)
        label, pred_col = cfg["label"], cfg.get("predicted_label")
        if label not in frame.columns:
            raise ValidationError(f"bias_config.label: label column {label!r} is not in the data (columns: {', '.join(map(str, frame.columns[:20]))})")
        model_ref = None
        if model is not None:
            if pred_col:
                raise ValidationError("give either a model or bias_config.predicted_label, not both")
            loaded, artifact_ref, registry_ref = resolve_model(self.ws, model)
            model_ref = registry_ref or artifact_ref
            preds = predicted_labels(loaded, frame, cfg.get("probability_threshold"))
        elif pred_col:
            if pred_col not in frame.columns:
                raise ValidationError(f"bias_config.predicted_label: column {pred_col!r} is not in the data")
            preds = frame[pred_col].to_numpy()
        else:
            raise ValidationError("a bias baseline needs predictions: give model, or bias_config.predicted_label (a column)")
        cfg["headers"] = cfg["headers"] or [str(c) for c in frame.columns if c not in (label, pred_col)]
        rows = frame.drop(columns=[c for c in (label, pred_col) if c]).assign(**{_bias.LABEL: frame[label].to_numpy(), _bias.PREDICTION: preds})
        analysis, _ = _bias.analyse(rows, cfg, None)
        doc = json_bytes(jsonable(analysis))
        name = validate_name(name or default_name(data_ref, fallback="bias-baseline"), "baseline name")
        return store_result(
            self.ws, BASELINE_KIND, name,
            spec={"monitoring_type": "ModelBias", "config": cfg, "dataset": data_ref, "model": model_ref},
            data={"item_count": len(rows)},
            documents={"statistics": (doc, "application/json"), "constraints": (doc, "application/json")},
            inputs={"baselined": data_ref, "baselined-model": model_ref}, tags=tags,
        )  # fmt: skip

    def _bias_baseline_from_capture(self, cfg: dict[str, Any], endpoint: str, start_time: Any, end_time: Any, variant: str | None,
                                    name: str | None, tags: dict[str, str] | None) -> ResourceRecord:  # fmt: skip
        from pathlib import Path

        from forgeml.monitoring import _bias, _joined
        from forgeml.monitoring import _ground_truth as gt
        from forgeml.monitoring._capture_read import capture_files
        from forgeml.monitoring._sources import parse_time, resolve

        source, ref = resolve(self.ws, endpoint=endpoint, start=start_time, end=end_time, variant=variant)
        files = capture_files(Path(source["root"]), parse_time(source.get("start"), "start_time"),
                              parse_time(source.get("end"), "end_time"), variant)  # fmt: skip
        counts = gt.MergeCounts()
        rows = _joined.joined(files, gt.read(gt.root(self.ws, source["endpoint"])), cfg["headers"] or [], cfg["inference_attribute"],
                              cfg["probability_attribute"], counts, self.ws.artifacts.envelope)  # fmt: skip
        if len(rows) == 0:
            raise ValidationError(f"endpoint {source['endpoint']}: no captured request in the window has ground truth ({counts.records} records)")
        cfg["headers"] = cfg["headers"] or [str(c) for c in rows.columns if c not in (_bias.LABEL, _bias.PREDICTION, _bias.PROBABILITY)]
        analysis, _ = _bias.analyse(rows, cfg, None)
        doc = json_bytes(jsonable(analysis))
        name = validate_name(name or f"{source['endpoint']}-bias", "baseline name")
        return store_result(
            self.ws, BASELINE_KIND, name,
            spec={"monitoring_type": "ModelBias", "config": cfg, "source": source, "model": None},
            data={"item_count": len(rows), "merge": counts.to_dict()},
            documents={"statistics": (doc, "application/json"), "constraints": (doc, "application/json")},
            inputs={"baselined": ref}, tags=tags,
        )  # fmt: skip

    def explainability_baseline(self, data: Any, *, model: Any, config: dict[str, Any] | None = None, name: str | None = None,
                                tags: dict[str, str] | None = None) -> ResourceRecord:  # fmt: skip
        """Global SHAP values (mean |SHAP| by default) of a model on baseline data.

        Args:
            data: rows of the model's inputs (dataset reference, local file or frame).
            model: a registry reference or a package folder; the monitor explains this model.
            config: Clarify's ``methods.shap`` options (``num_clusters``, ``num_samples``,
                ``agg_method``, ``use_logit``, ``seed``, ``method``, ``max_rows``) and
                ``threshold`` (NDCG below it is a violation; 0.90), ``headers``,
                ``background_rows`` (kept as SHAP's background for every window; 50).

        Raises:
            ValidationError: a bad config, data without the model's input columns.
        """
        from forgeml.clarify import explain
        from forgeml.evaluation._inputs import resolve_frame, resolve_model
        from forgeml.monitoring import _attribution as at
        from forgeml.monitoring._joined import dumps_rows

        cfg = at.parse_config(config)
        loaded, artifact_ref, registry_ref = resolve_model(self.ws, model)
        frame, data_ref = resolve_frame(self.ws, data)
        features = list(loaded.manifest.feature_names)
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise ValidationError(f"data: the model's input column(s) {', '.join(missing)} are not in the data")
        if len(frame) == 0:
            raise ValidationError("data: no rows to explain")
        background = frame[features].sample(n=min(cfg["background_rows"], len(frame)), random_state=cfg["seed"])
        result = explain(loaded, frame[features], baseline=background, **at.explain_options(cfg))
        expl = at.explanations(result.analysis)
        doc = json_bytes(jsonable({"version": "1.0", "explanations": expl}))
        name = validate_name(name or default_name(registry_ref, data_ref, fallback="explainability-baseline"), "baseline name")
        return store_result(
            self.ws, BASELINE_KIND, name,
            spec={"monitoring_type": "ModelExplainability", "config": cfg, "dataset": data_ref, "model": registry_ref,
                  "package": artifact_ref.split("/", 1)[1], "background": dumps_rows(background)},
            data={"item_count": len(frame), "rows_explained": result.analysis["rows_explained"], "method": result.analysis["method"]},
            documents={"statistics": (doc, "application/json"), "constraints": (doc, "application/json")},
            inputs={"baselined": data_ref, "explained": artifact_ref, "explained-model": registry_ref}, tags=tags,
        )  # fmt: skip

    def _clarify_job_config(self, monitoring_type: str, baseline: Any, endpoint: str, start_time: Any, end_time: Any,
                            variant: str | None, name: str | None, tags: dict[str, str] | None) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
        from forgeml.monitoring._sources import resolve

        base = get_record(self.ws, BASELINE_KIND, baseline)
        if baseline_type(base) != monitoring_type:
            raise ValidationError(f"baseline: {base.ref} is a {baseline_type(base)} baseline, not a {monitoring_type} one")
        source, ref = resolve(self.ws, endpoint=endpoint, start=start_time, end=end_time, variant=variant)
        suffix = "bias" if monitoring_type == "ModelBias" else "attribution"
        name = validate_name(name or f"{source['endpoint']}-{suffix}"[:63], "execution name")
        config = {"baseline": base.ref, "source": source, "source_ref": ref, "name": name, "tags": tags or {}}
        return config, [base.ref, *([ref] if ref else [])]

    def _clarify_run(self, monitoring_type: str, baseline: Any, endpoint: str, start_time: Any, end_time: Any, variant: str | None,
                     name: str | None, wait: bool, timeout: float | None, tags: dict[str, str] | None) -> ResourceRecord | JobRecord:  # fmt: skip
        service: Any = self
        job_name = new_name("monitoring")
        config, inputs = self._clarify_job_config(monitoring_type, baseline, endpoint, start_time, end_time, variant, name, tags)
        result: ResourceRecord | JobRecord = service._run(monitoring_type, config, job_name, inputs, wait, timeout)
        return result

    def model_bias(self, baseline: Any, *, endpoint: str, start_time: Any = None, end_time: Any = None, variant: str | None = None,
                   name: str | None = None, wait: bool = True, timeout: float | None = None,
                   tags: dict[str, str] | None = None) -> ResourceRecord | JobRecord:  # fmt: skip
        """Run one bias drift execution: the window's captures joined with their ground truth.

        Returns:
            The ``monitoring-execution``: ``Completed``, or ``CompletedWithViolations`` when some
            metric's confidence interval is disjoint from its allowed range; an empty window
            completes with ``data["status_detail"] == "NoData"``.
        """
        return self._clarify_run("ModelBias", baseline, endpoint, start_time, end_time, variant, name, wait, timeout, tags)

    def model_explainability(self, baseline: Any, *, endpoint: str, start_time: Any = None, end_time: Any = None,
                             variant: str | None = None, name: str | None = None, wait: bool = True, timeout: float | None = None,
                             tags: dict[str, str] | None = None) -> ResourceRecord | JobRecord:  # fmt: skip
        """Run one feature attribution drift execution over the window's captured inputs
        (``CompletedWithViolations`` when a label's NDCG is below the threshold)."""
        return self._clarify_run("ModelExplainability", baseline, endpoint, start_time, end_time, variant, name, wait, timeout, tags)


__all__ = ["CLARIFY_TYPES", "ClarifyMonitorMixin", "baseline_type"]
