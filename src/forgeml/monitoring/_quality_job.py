"""The model-quality execution job (kind ``monitoring``): merge a window's captures with the
ground truth uploaded so far, compute the metrics, check the constraints, store the results as
the next version of a ``monitoring-execution`` (statistics.json, constraint_violations.json)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.evaluation._store import json_bytes, jsonable, store_result
from forgeml.monitoring._jobs import EXECUTION_KIND, _write

if TYPE_CHECKING:
    from forgeml.core.jobs import JobContext


def _binary(values: list[str], what: str) -> list[int]:
    from forgeml.errors import ValidationError

    out = []
    for v in values:
        try:
            out.append(int(float(v)))
        except ValueError:
            raise ValidationError(f"{what} {v!r} is not 0 or 1") from None
    return out


def model_quality_job(ctx: JobContext) -> None:
    """Merge, measure, check, store."""
    from forgeml.monitoring import _ground_truth as gt
    from forgeml.monitoring import _quality as q
    from forgeml.monitoring._capture_read import capture_files
    from forgeml.monitoring._sources import parse_time

    cfg, ws = ctx.config, ctx.workspace
    mq, source = cfg["model_quality"], cfg["source"]
    problem = mq["problem_type"]
    constraints = q.parse_constraints(cfg.get("constraints"), problem)
    ctx.set_secondary_status("Merging")
    files = capture_files(Path(source["root"]), parse_time(source.get("start"), "start_time"),
                          parse_time(source.get("end"), "end_time"), source.get("variant"))  # fmt: skip
    labels = gt.read(gt.root(ws, source["endpoint"]))
    counts = gt.MergeCounts()
    ys, preds, probs = gt.merge(files, labels, mq.get("inference_attribute") or "predicted_label", mq.get("probability_attribute"), counts, ws.artifacts.envelope)
    span = f"{source.get('start') or 'the first capture'} to {source.get('end') or 'now'}"
    score = None
    if problem == "BinaryClassification" and ys:
        threshold = mq.get("probability_threshold")
        if probs and all(p is not None for p in probs):
            score = [float(p) for p in probs if p is not None]
            if threshold is not None:
                preds = ["1" if s >= threshold else "0" for s in score]
        y_use: Any = _binary(ys, "ground truth")
        p_use: Any = _binary(preds, "prediction")
    else:
        y_use, p_use = ys, preds
    key = f"{q.PROBLEMS[problem]}_metrics"
    estimates = None
    if mq.get("estimator"):  # CBPE: every captured prediction of the window, labelled or not
        from forgeml.monitoring._cbpe_job import alerts, window_estimate

        estimates = window_estimate(ws, mq, files, labels)
    if not ys:
        status, detail, block, found = "Completed", "NoData", {}, []
        message = f"no data: no captured request in {span} has ground truth yet ({counts.records} records)"
    else:
        block = q.metrics(problem, y_use, p_use, score)
        found = q.violations(block, constraints)
        status = "CompletedWithViolations" if found else "Completed"
        detail = "Violations" if found else "NoViolations"
        message = f"{len(found)} violation(s) over {len(ys)} labelled rows of {span}"
    if estimates is not None and estimates["item_count"]:
        found = found + alerts(estimates)
        status = "CompletedWithViolations" if found else "Completed"
        detail = "Violations" if found else ("NoViolations" if ys else "Estimated")
        message = (f"{len(found)} violation(s); CBPE estimate over {estimates['item_count']} captured rows of {span}, "
                   f"{len(ys)} with ground truth")  # fmt: skip
    stats = {"version": 0.0, "dataset": {"item_count": len(ys), "evaluation_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
             key: block}  # fmt: skip
    if estimates is not None:
        stats["binary_classification_estimates"] = estimates
    files_out = {"statistics.json": json_bytes(jsonable(stats)), "constraint_violations.json": json_bytes({"violations": found})}
    _write(ctx.workdir / "output", files_out)
    metrics = {m: v["value"] for m, v in block.items() if isinstance(v, dict) and isinstance(v.get("value"), int | float)}
    if estimates is not None:
        from forgeml.monitoring._cbpe_job import estimate_metrics

        metrics.update(estimate_metrics(estimates))
    record = store_result(
        ws, EXECUTION_KIND, cfg["name"],
        spec={"monitoring_type": "ModelQuality", "model_quality": mq, "source": source, "job": ctx.name,
              "schedule": cfg.get("schedule")},
        data=jsonable({"status_detail": detail, "message": message, "item_count": len(ys), "violations": len(found),
                       "merge": counts.to_dict(), "metrics": metrics, "analysed_at": time.time(),
                       "estimated_item_count": estimates["item_count"] if estimates else None}),
        documents={"statistics": (files_out["statistics.json"], "application/json"),
                   "violations": (files_out["constraint_violations.json"], "application/json")},
        inputs={"monitored": cfg.get("source_ref"), "scheduled-by": cfg.get("schedule")},
        metrics=metrics, tags=cfg.get("tags"), status=status,
    )  # fmt: skip
    ctx.log_metrics(metrics)
    if metrics:  # model quality and CBPE estimates as metrics (alarms, Prometheus)
        from forgeml.alarms._publish import publish_monitoring
        from forgeml.monitoring._cbpe_job import MODEL_NAMESPACE

        publish_monitoring(ws, cfg["name"], source, metrics, namespace=MODEL_NAMESPACE)
    ws.metadata.append_event(record.ref, "MonitoringExecution" + status, {"violations": len(found), "detail": detail})
    ctx.add_output(record.ref)
    ctx.log(f"{record.ref}: {status}: {message}")


__all__ = ["model_quality_job"]
