"""Job entrypoints (kind ``monitoring``): a baselining job and a monitoring execution.

Each reads its source in batches (bounded memory), writes SageMaker's files under
``<job folder>/output/`` (``statistics.json`` and ``constraints.json``; or ``statistics.json``,
``constraint_violations.json`` and ``report.html``), then stores them as the next version of a
``monitoring-baseline`` or ``monitoring-execution`` resource, with lineage from what it read.
Artifacts go in first and the record last, so a failure leaves no half-made record.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError
from forgeml.evaluation._store import json_bytes, jsonable, read_document, store_result
from forgeml.monitoring._profile import Profile
from forgeml.monitoring._sources import batches

if TYPE_CHECKING:
    from forgeml.core.jobs import JobContext

BASELINE_KIND = "monitoring-baseline"
EXECUTION_KIND = "monitoring-execution"


def _write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        tmp = folder / f".{name}.part"
        tmp.write_bytes(payload)
        tmp.replace(folder / name)


def _profile(ctx: JobContext, source: dict[str, Any], columns: list[str],
             text_columns: list[str] | None = None) -> tuple[Profile, dict[str, int] | None]:  # fmt: skip
    from forgeml.monitoring._capture_read import CaptureReader

    reader = CaptureReader(columns, ctx.workspace.artifacts.envelope) if source["kind"] == "capture" else None
    profile = Profile(text_columns or ())
    for batch in batches(ctx.workspace, source, reader):
        profile.update(batch)
        ctx.log_metric("rows", profile.rows)
    return profile, reader.counts.to_dict() if reader else None


def baseline_job(ctx: JobContext) -> None:
    """Profile the source, suggest constraints, store both."""
    from forgeml.monitoring._constraints import suggest

    cfg = ctx.config
    ctx.set_secondary_status("Profiling")
    profile, counts = _profile(ctx, cfg["source"], cfg.get("columns") or [])
    if profile.rows == 0:
        raise ValidationError(f"the baseline data holds no rows{f' (capture: {counts})' if counts else ''}")
    stats = profile.statistics()
    constraints = suggest(stats).document()
    files = {"statistics.json": json_bytes(stats), "constraints.json": json_bytes(constraints)}
    _write(ctx.workdir / "output", files)
    record = store_result(
        ctx.workspace, BASELINE_KIND, cfg["name"],
        spec={"source": cfg["source"], "job": ctx.name},
        data={"item_count": profile.rows, "features": len(stats["features"]), "capture": counts},
        documents={"statistics": (files["statistics.json"], "application/json"),
                   "constraints": (files["constraints.json"], "application/json")},
        inputs={"baselined": cfg.get("source_ref")}, tags=cfg.get("tags"),
    )  # fmt: skip
    ctx.add_output(record.ref)
    ctx.log(f"baseline {record.ref}: {profile.rows} rows, {len(stats['features'])} features")


def check_job(ctx: JobContext) -> None:
    """One monitoring execution: profile the window, check it against the baseline, store the results."""
    from forgeml.core.refs import resolve
    from forgeml.monitoring._check import check
    from forgeml.monitoring._constraints import parse
    from forgeml.monitoring._html import render

    cfg = ctx.config
    ws = ctx.workspace
    baseline = resolve(ws.metadata, cfg["baseline"], BASELINE_KIND)
    base_stats = json.loads(read_document(ws, baseline, "statistics"))
    constraints = parse(cfg["constraints"] if cfg.get("constraints") is not None
                        else json.loads(read_document(ws, baseline, "constraints")), "constraints")  # fmt: skip
    ctx.set_secondary_status("Analyzing")
    names = [f["name"] for f in base_stats.get("features", [])]
    strings = [f["name"] for f in base_stats.get("features", []) if f.get("inferred_type") == "String"]
    window, counts = _profile(ctx, cfg["source"], names, strings)
    stats = window.statistics()
    source = cfg["source"]
    span = f"{source.get('start') or 'the first capture'} to {source.get('end') or 'now'}" if source["kind"] == "capture" else "the data"
    if window.rows == 0:
        status, detail, result_violations, metrics, drift = "Completed", "NoData", [], {}, {}
        message = f"no data: no analysable records in {span}" + (f" ({counts['files']} files, {counts['records']} records)" if counts else "")
    else:
        result = check(base_stats, constraints, window)
        result_violations, metrics, drift = result.violations, result.metrics, result.drift
        status = "CompletedWithViolations" if result_violations else "Completed"
        detail = "Violations" if result_violations else "NoViolations"
        message = f"{len(result_violations)} violation(s) in {window.rows} rows of {span}"
    summary = {"status": status, "message": message, "capture": counts}
    html = render(f"Monitoring execution {cfg['name']}", baseline=base_stats, window=stats,
                  violations=result_violations, drift=drift, summary=summary)  # fmt: skip
    files = {"statistics.json": json_bytes(stats), "constraint_violations.json": json_bytes({"violations": result_violations}),
             "report.html": html.encode()}  # fmt: skip
    _write(ctx.workdir / "output", files)
    emit = constraints.monitoring_config.emit_metrics == "Enabled"
    record = store_result(
        ws, EXECUTION_KIND, cfg["name"],
        spec={"baseline": baseline.ref, "source": source, "job": ctx.name,
              "constraints_override": cfg.get("constraints") is not None, "schedule": cfg.get("schedule")},
        data=jsonable({"status_detail": detail, "message": message, "item_count": window.rows, "violations": len(result_violations),
                       "capture": counts, "drift": drift, "metrics": metrics, "analysed_at": time.time()}),
        documents={"statistics": (files["statistics.json"], "application/json"),
                   "violations": (files["constraint_violations.json"], "application/json"),
                   "html": (files["report.html"], "text/html")},
        inputs={"baseline": baseline.ref, "monitored": cfg.get("source_ref"), "scheduled-by": cfg.get("schedule")},
        metrics={k: v for k, v in metrics.items() if v == v} if emit else None, tags=cfg.get("tags"), status=status,
    )  # fmt: skip
    if emit and metrics:
        ctx.log_metrics({k: v for k, v in metrics.items() if v == v})  # NaN: undefined, not published
        from forgeml.alarms._publish import publish_monitoring

        publish_monitoring(ws, cfg["name"], source, metrics)
    ws.metadata.append_event(record.ref, "MonitoringExecution" + status, {"violations": len(result_violations), "detail": detail})
    ctx.add_output(record.ref)
    ctx.log(f"{record.ref}: {status}: {message}")


__all__ = ["BASELINE_KIND", "EXECUTION_KIND", "baseline_job", "check_job"]
