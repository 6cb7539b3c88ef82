"""The ModelBias and ModelExplainability execution jobs (kind ``monitoring``).

Each reads exactly its window's capture files, compares with its baseline, and stores the next
version of a ``monitoring-execution`` (``statistics.json`` = the window's analysis.json,
``constraint_violations.json``, ``report.html``), with lineage from the baseline, the endpoint
and the schedule. An empty window completes with ``status_detail`` ``NoData``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.evaluation._store import json_bytes, jsonable, read_document, store_result
from forgeml.monitoring._jobs import BASELINE_KIND, EXECUTION_KIND, _write

if TYPE_CHECKING:
    from forgeml.core.jobs import JobContext
    from forgeml.core.records import ResourceRecord
    from forgeml.core.workspace import Workspace


def _files(source: dict[str, Any]) -> list[Path]:
    from forgeml.monitoring._capture_read import capture_files
    from forgeml.monitoring._sources import parse_time

    return capture_files(Path(source["root"]), parse_time(source.get("start"), "start_time"),
                         parse_time(source.get("end"), "end_time"), source.get("variant"))  # fmt: skip


def _span(source: dict[str, Any]) -> str:
    return f"{source.get('start') or 'the first capture'} to {source.get('end') or 'now'}"


def _baseline(ws: Workspace, ref: str) -> tuple[ResourceRecord, dict[str, Any]]:
    from forgeml.core.refs import resolve

    record = resolve(ws.metadata, ref, BASELINE_KIND)
    return record, json.loads(read_document(ws, record, "constraints"))


def _store(ctx: JobContext, monitoring_type: str, baseline: ResourceRecord, analysis: dict[str, Any], found: list[dict[str, Any]],
           html: str, detail: str, message: str, rows: int, counts: dict[str, Any], metrics: dict[str, float]) -> None:  # fmt: skip
    cfg, ws = ctx.config, ctx.workspace
    status = "CompletedWithViolations" if found else "Completed"
    files = {"statistics.json": json_bytes(jsonable(analysis)),
             "constraint_violations.json": json_bytes({"version": "1.0", "violations": found}), "report.html": html.encode()}  # fmt: skip
    _write(ctx.workdir / "output", files)
    record = store_result(
        ws, EXECUTION_KIND, cfg["name"],
        spec={"monitoring_type": monitoring_type, "baseline": baseline.ref, "source": cfg["source"], "job": ctx.name,
              "schedule": cfg.get("schedule")},
        data=jsonable({"status_detail": detail, "message": message, "item_count": rows, "violations": len(found), "counts": counts,
                       "metrics": metrics, "analysed_at": time.time()}),
        documents={"statistics": (files["statistics.json"], "application/json"),
                   "violations": (files["constraint_violations.json"], "application/json"),
                   "html": (files["report.html"], "text/html")},
        inputs={"baseline": baseline.ref, "monitored": cfg.get("source_ref"), "scheduled-by": cfg.get("schedule")},
        metrics=metrics or None, tags=cfg.get("tags"), status=status,
    )  # fmt: skip
    if metrics:
        from forgeml.alarms._publish import publish_monitoring

        ctx.log_metrics(metrics)
        publish_monitoring(ws, cfg["name"], cfg["source"], metrics)
    ws.metadata.append_event(record.ref, "MonitoringExecution" + status, {"violations": len(found), "detail": detail})
    ctx.add_output(record.ref)
    ctx.log(f"{record.ref}: {status}: {message}")


def model_bias_job(ctx: JobContext) -> None:
    """Join the window's captures with their ground truth, measure bias with intervals, check."""
    from forgeml.monitoring import _bias, _joined
    from forgeml.monitoring import _ground_truth as gt
    from forgeml.monitoring._html_clarify import render_bias

    cfg, ws, source = ctx.config, ctx.workspace, ctx.config["source"]
    baseline, base_analysis = _baseline(ws, cfg["baseline"])
    bias_cfg = _bias.parse_config(baseline.spec["config"])
    ctx.set_secondary_status("Merging")
    counts = gt.MergeCounts()
    frame = _joined.joined(_files(source), gt.read(gt.root(ws, source["endpoint"])), bias_cfg["headers"] or [],
                           bias_cfg["inference_attribute"], bias_cfg["probability_attribute"], counts, ws.artifacts.envelope)  # fmt: skip
    ctx.set_secondary_status("Analyzing")
    if len(frame) == 0:
        analysis: dict[str, Any] = {"version": "1.0", "post_training_bias_metrics": {"label": bias_cfg["label"], "facets": {}}}
        found: list[dict[str, Any]] = []
        detail, message = "NoData", f"no data: no captured request in {_span(source)} has ground truth yet ({counts.records} records)"
    else:
        analysis, found = _bias.analyse(frame, bias_cfg, base_analysis)
        detail = "Violations" if found else "NoViolations"
        message = f"{len(found)} violation(s) over {len(frame)} labelled rows of {_span(source)}"
    summary = {"status": "CompletedWithViolations" if found else "Completed", "message": message, "counts": counts.to_dict()}
    html = render_bias(f"Bias drift {cfg['name']}", analysis=analysis, baseline=base_analysis, violations=found, summary=summary)
    _store(ctx, "ModelBias", baseline, analysis, found, html, detail, message, len(frame), counts.to_dict(),
           _bias.metrics(analysis) if len(frame) else {})  # fmt: skip


def load_baseline_model(ws: Workspace, spec: dict[str, Any], workdir: Path) -> Any:
    """The model a ModelExplainability baseline explained (its registry version, else its package)."""
    from forgeml.evaluation._inputs import resolve_model
    from forgeml.registry.package import load_model

    if spec.get("model"):
        return resolve_model(ws, spec["model"])[0]
    folder = ws.artifacts.get_dir(spec["package"], workdir / "model")
    return load_model(folder)


def model_explainability_job(ctx: JobContext) -> None:
    """Global SHAP on the window's captured inputs, NDCG against the baseline's, check."""
    import pandas as pd

    from forgeml.clarify import explain
    from forgeml.monitoring import _attribution as at
    from forgeml.monitoring import _joined
    from forgeml.monitoring._html_clarify import render_attribution

    cfg, ws, source = ctx.config, ctx.workspace, ctx.config["source"]
    baseline, base_doc = _baseline(ws, cfg["baseline"])
    ex_cfg = at.parse_config(baseline.spec["config"])
    model = load_baseline_model(ws, baseline.spec, ctx.workdir)
    headers = ex_cfg["headers"] or list(model.manifest.feature_names)
    counts: dict[str, Any] = {}
    frame = _joined.inputs(_files(source), headers, ws.artifacts.envelope, counts)
    base_expl = base_doc["explanations"]
    if len(frame) == 0:
        window: dict[str, Any] = {}
        scores: dict[str, float] = {}
        found: list[dict[str, Any]] = []
        detail, message = "NoData", f"no data: no analysable captured request in {_span(source)} ({counts.get('records', 0)} records)"
    else:
        ctx.set_secondary_status("Explaining")
        background = pd.DataFrame(baseline.spec["background"])
        wanted = [c for c in model.manifest.feature_names if c in frame.columns] or list(frame.columns)
        result = explain(model, frame[wanted], baseline=background[wanted] if set(wanted) <= set(background.columns) else None,
                         **at.explain_options(ex_cfg))  # fmt: skip
        window = at.explanations(result.analysis)
        scores, found = at.compare(base_expl, window, ex_cfg["threshold"])
        detail = "Violations" if found else "NoViolations"
        shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
        message = f"{len(found)} violation(s); NDCG {shown} over {result.analysis['rows_explained']} of {len(frame)} rows of {_span(source)}"
    analysis = {"version": "1.0", "explanations": window, "ndcg": scores, "threshold": ex_cfg["threshold"]}
    summary = {"status": "CompletedWithViolations" if found else "Completed", "message": message, "counts": counts}
    html = render_attribution(f"Feature attribution drift {cfg['name']}", baseline=base_expl, window=window, scores=scores,
                              violations=found, summary=summary)  # fmt: skip
    _store(ctx, "ModelExplainability", baseline, analysis, found, html, detail, message, len(frame), counts,
           at.metrics(window, scores) if window else {})  # fmt: skip


__all__ = ["load_baseline_model", "model_bias_job", "model_explainability_job"]
