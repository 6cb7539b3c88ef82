"""``forgeml monitor``: baselines and data-quality monitoring executions (Model Monitor)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, console, emit, print_table, workspace
from forgeml.cli._refs import HtmlOption, OpenOption, export_report, ref_argument, ref_option

app = typer.Typer(help="Model monitoring: baselines, data-quality checks of captured traffic, violations, reports.", no_args_is_help=True)

EndpointOpt: Any = ref_option("ENDPOINT", "--endpoint", "-e", help="Read this endpoint's captured traffic.")
StartOpt: Any = typer.Option(None, "--start", help="Captures from this hour (ISO-8601, UTC), e.g. 2026-12-07T05:00:00Z.")
EndOpt: Any = typer.Option(None, "--end", help="Captures before this hour (ISO-8601, UTC).")
VariantOpt: Any = typer.Option(None, "--variant", help="Only this production variant's captures.")
WaitOpt: Any = typer.Option(True, "--wait/--no-wait", help="Wait for the job and print its result (default), or print the job.")


def _record(rec: Any) -> dict[str, Any]:
    return rec.to_dict() | {"ref": rec.ref}


@app.command("baseline")
def baseline(
    data: str = ref_argument("DATA", None, help="Rows to baseline (or give --endpoint)."),
    endpoint: str = EndpointOpt,
    start: str = StartOpt,
    end: str = EndOpt,
    variant: str = VariantOpt,
    columns: str = typer.Option(None, help="Comma-separated names for captured positional values (CSV payloads)."),
    name: str = typer.Option(None, help="Baseline name (default: the dataset's or endpoint's name)."),
    wait: bool = WaitOpt,
    as_json: bool = JsonOption,
) -> None:
    """Run a baselining job: statistics.json and suggested constraints.json."""
    ws = workspace()
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    with console(stderr=True).status("baselining"):
        rec = ws.monitoring.baseline(data, endpoint=endpoint, start_time=start, end_time=end, variant=variant,
                                     columns=cols, name=name, wait=wait)  # fmt: skip
    if not wait:
        emit(rec.to_dict(), as_json, lambda: typer.echo(f"started job {rec.name}"))
        return
    out = _record(rec) | {"constraints": ws.monitoring.constraints(rec)}
    emit(out, as_json, lambda: typer.echo(f"stored {rec.ref}: {rec.data['item_count']} rows, {rec.data['features']} features"))


@app.command("constraints")
def constraints(
    baseline: str = ref_argument("BASELINE"),
    set_: Path = typer.Option(None, "--set", help="Store this edited constraints file (.json, .yaml) as the baseline's next version."),
    out: Path = typer.Option(None, "--out", "-o", help="Write constraints.json here (to edit)."),
    as_json: bool = JsonOption,
) -> None:
    """Show, export or replace a baseline's constraints."""
    import json

    ws = workspace()
    rec = ws.monitoring.update_constraints(baseline, set_) if set_ is not None else ws.monitoring.get(baseline)
    doc = ws.monitoring.constraints(rec)
    if out is not None:
        out.write_text(json.dumps(doc, indent=2))
    if set_ is not None and not as_json:
        typer.echo(f"stored {rec.ref}", err=True)
    if "features" not in doc:  # a ModelBias or ModelExplainability baseline: its analysis
        from forgeml.cli._monitor_clarify import _print_attributions, _print_bias

        emit(doc, as_json, lambda: _print_attributions(doc["explanations"]) if "explanations" in doc else _print_bias(doc))
        return
    emit(doc, as_json, lambda: print_table(f"{rec.ref} constraints", ["feature", "type", "completeness", "constraints"],
                                           ((f["name"], f["inferred_type"], f.get("completeness"),
                                             json.dumps({k: f[k] for k in ("num_constraints", "string_constraints") if k in f})) for f in doc["features"])))  # fmt: skip


@app.command("run")
def run(
    baseline: str = ref_argument("BASELINE"),
    data: str = ref_option("DATA", "--data", "-d", help="Check these rows (or give --endpoint)."),
    endpoint: str = EndpointOpt,
    start: str = StartOpt,
    end: str = EndOpt,
    variant: str = VariantOpt,
    constraints: Path = typer.Option(None, "--constraints", help="Use this constraints file (.json, .yaml) instead of the baseline's."),
    name: str = typer.Option(None, help="Execution name (default: the endpoint's or the baseline's name)."),
    wait: bool = WaitOpt,
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    as_json: bool = JsonOption,
) -> None:
    """Run one data-quality monitoring execution of a window against a baseline."""
    ws = workspace()
    with console(stderr=True).status("monitoring"):
        rec = ws.monitoring.check(baseline, data, endpoint=endpoint, start_time=start, end_time=end, variant=variant,
                                  constraints=constraints, name=name, wait=wait)  # fmt: skip
    if not wait:
        emit(rec.to_dict(), as_json, lambda: typer.echo(f"started job {rec.name}"))
        return
    export_report(rec, html, open_)
    violations = ws.monitoring.violations(rec)
    emit(_record(rec) | violations, as_json, lambda: _print_run(rec, violations))


def _print_run(rec: Any, violations: dict[str, Any]) -> None:
    typer.echo(f"{rec.ref}: {rec.status}: {rec.data['message']}")
    if violations["violations"]:
        print_table("violations", ["feature", "check", "description"],
                    ((v.get("feature_name") or v.get("metric_name"), v["constraint_check_type"], v["description"]) for v in violations["violations"]))  # fmt: skip


@app.command("violations")
def violations(execution: str = ref_argument("EXECUTION"), as_json: bool = JsonOption) -> None:
    """Print an execution's constraint_violations.json."""
    ws = workspace()
    rec = ws.monitoring.execution(execution)
    doc = ws.monitoring.violations(rec)
    emit(doc, as_json, lambda: _print_run(rec, doc))


@app.command("executions")
def executions(name: str = ref_argument("EXECUTION", None, help="Only this execution's versions."),
               schedule: str = ref_option("SCHEDULE", "--schedule", "-s", help="This schedule's windows, with their status."),
               as_json: bool = JsonOption) -> None:  # fmt: skip
    """List monitoring executions, newest first (of one schedule: one per window, any status)."""
    if schedule is not None:
        runs = workspace().monitoring.schedule_executions(schedule)
        emit(runs, as_json, lambda: _print_windows(runs))
        return
    recs = workspace().monitoring.executions(name)
    emit([_record(r) for r in recs], as_json, lambda: print_table(None, ["execution", "status", "detail", "violations", "rows"],
         ((r.ref, r.status, r.data.get("status_detail"), r.data.get("violations"), r.data.get("item_count")) for r in recs)))  # fmt: skip


@app.command("report")
def report(execution: str = ref_argument("EXECUTION"), html: Path = HtmlOption, open_: bool = OpenOption, as_json: bool = JsonOption) -> None:
    """An execution's summary (status, drift per feature, violations); --html/--open writes its page."""
    ws = workspace()
    rec = ws.monitoring.execution(execution)
    export_report(rec, html, open_)
    doc = {"ref": rec.ref, "status": rec.status, **{k: rec.data.get(k) for k in ("status_detail", "message", "item_count", "capture", "drift")},
           **ws.monitoring.violations(rec)}  # fmt: skip

    def render() -> None:
        _print_run(rec, doc)
        print_table("drift", ["feature", "method", "distance", "threshold"],
                    ((f, d["method"], d["distance"], d["threshold"]) for f, d in (rec.data.get("drift") or {}).items()))  # fmt: skip

    emit(doc, as_json, render)


# schedules -------------------------------------------------------------------------------------
def _schedule_row(rec: Any) -> tuple[Any, ...]:
    return (rec.name, rec.status, rec.spec["monitoring_type"], rec.spec["endpoint"], rec.spec["cron"], rec.data.get("next_fire"))


@app.command("create")
def create(
    name: str = typer.Argument(..., metavar="NAME", help="The schedule's name (its executions are stored under it)."),
    baseline: str = ref_option("BASELINE", "--baseline", "-b", help="The monitoring baseline to check against."),
    endpoint: str = EndpointOpt,
    cron: str = typer.Option("hourly", "--cron", help="Five-field cron (UTC), at most hourly; or 'hourly', 'daily'."),
    variant: str = VariantOpt,
    monitoring_type: str = typer.Option("DataQuality", "--type", help="DataQuality, ModelQuality, ModelBias or ModelExplainability (the last two: a baseline of that type)."),
    constraints: Path = typer.Option(None, "--constraints", help="Use this constraints file (.json, .yaml) instead of the baseline's."),
    start: str = typer.Option(None, "--start", help="No window before this time (ISO-8601; default now)."),
    as_json: bool = JsonOption,
) -> None:
    """Create a monitoring schedule: a monitoring execution of each window, on a cron."""
    ws = workspace()
    rec = ws.monitoring.create_schedule(name, baseline=baseline, endpoint=endpoint, cron=cron, variant=variant,
                                        monitoring_type=monitoring_type, constraints=constraints, start_time=start)  # fmt: skip
    emit(_record(rec), as_json, lambda: typer.echo(f"created {rec.ref} ({rec.spec['cron']}), next run {rec.data['next_fire']}"))


@app.command("ls")
def ls(as_json: bool = JsonOption) -> None:
    """List monitoring schedules."""
    recs = workspace().monitoring.schedules()
    emit([_record(r) for r in recs], as_json,
         lambda: print_table(None, ["schedule", "status", "type", "endpoint", "cron", "next run"], (_schedule_row(r) for r in recs)))  # fmt: skip


@app.command("show")
def show(name: str = ref_argument("SCHEDULE"), as_json: bool = JsonOption) -> None:
    """A schedule and its latest executions."""
    ws = workspace()
    rec = ws.monitoring.schedule(name)
    runs = ws.monitoring.schedule_executions(rec.name)
    doc = _record(rec) | {"executions": runs[:10]}

    def render() -> None:
        print_table(rec.ref, ["schedule", "status", "type", "endpoint", "cron", "next run"], [_schedule_row(rec)])
        if rec.data.get("failure_reason"):
            typer.echo(f"failed: {rec.data['failure_reason']}")
        _print_windows(runs[:10])

    emit(doc, as_json, render)


def _print_windows(runs: list[dict[str, Any]]) -> None:
    print_table("executions", ["window start", "window end", "status", "execution", "job"],
                ((r["window_start"], r["window_end"], r["status"], r["execution"], r["job"]) for r in runs))  # fmt: skip


@app.command("stop")
def stop(name: str = ref_argument("SCHEDULE"), as_json: bool = JsonOption) -> None:
    """Stop a schedule (windows already started finish)."""
    rec = workspace().monitoring.stop_schedule(name)
    emit(_record(rec), as_json, lambda: typer.echo(f"{rec.ref}: {rec.status}"))


@app.command("start")
def start_(name: str = ref_argument("SCHEDULE"), as_json: bool = JsonOption) -> None:
    """Start a stopped schedule again, from now on."""
    rec = workspace().monitoring.start_schedule(name)
    emit(_record(rec), as_json, lambda: typer.echo(f"{rec.ref}: {rec.status}"))


@app.command("scheduler")
def scheduler(
    interval: float = typer.Option(30.0, min=0.05, help="Seconds between passes."),
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
) -> None:
    """Run due monitoring schedules (``forgeml server`` runs this too). Safe to restart at any time."""
    from forgeml.monitoring import Scheduler

    ws = workspace()
    if once:
        for job in Scheduler(ws).tick():
            typer.echo(f"started job {job}")
        return
    typer.echo(f"monitoring scheduler: every {interval:g}s (workspace {ws.home})", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        Scheduler(ws).run(interval)


@app.command("quality")
def quality(
    endpoint: str = EndpointOpt,
    problem_type: str = typer.Option(..., "--problem-type", help="Regression, BinaryClassification or MulticlassClassification."),
    start: str = StartOpt,
    end: str = EndOpt,
    variant: str = VariantOpt,
    inference_attribute: str = typer.Option(None, "--inference-attribute", help="The prediction's key in JSON outputs (default predicted_label)."),
    probability_attribute: str = typer.Option(None, "--probability-attribute", help="The positive-class probability's key (binary)."),
    probability_threshold: float = typer.Option(None, "--probability-threshold", help="Predict 1 at or above this probability."),
    constraints: Path = typer.Option(None, "--constraints", help="Model-quality constraints (.json, .yaml)."),
    estimator: str = ref_option("BASELINE", "--estimator", help="A CBPE reference: also estimate the metrics without labels."),
    name: str = typer.Option(None, help="Execution name (default ENDPOINT-quality)."),
    as_json: bool = JsonOption,
) -> None:
    """Run one model-quality execution: captures merged with the ground truth uploaded so far
    (with --estimator, CBPE's label-free estimate beside the realized metrics)."""
    ws = workspace()
    if endpoint is None:
        from forgeml.errors import ValidationError

        raise ValidationError("give --endpoint (the endpoint whose captures to merge with ground truth)")
    with console(stderr=True).status("model quality"):
        rec = ws.monitoring.model_quality(endpoint, problem_type=problem_type, start_time=start, end_time=end, variant=variant,
                                          inference_attribute=inference_attribute, probability_attribute=probability_attribute,
                                          probability_threshold=probability_threshold, constraints=constraints,
                                          estimator=estimator, name=name)  # fmt: skip
    stats = ws.monitoring.statistics(rec, kind="monitoring-execution")
    doc = _record(rec) | {"statistics": stats} | ws.monitoring.violations(rec)

    def render() -> None:
        typer.echo(f"{rec.ref}: {rec.status}: {rec.data['message']}")
        block = next((v for k, v in stats.items() if k.endswith("_metrics")), {})
        print_table("metrics", ["metric", "value", "standard deviation"],
                    ((k, v["value"], v["standard_deviation"]) for k, v in block.items() if isinstance(v, dict) and "value" in v))  # fmt: skip
        estimates = stats.get("binary_classification_estimates")
        if estimates:
            from forgeml.cli._cbpe import estimate_rows

            print_table(f"CBPE estimate ({estimates['item_count']} rows) vs realized ({estimates['labelled_item_count']} labelled)",
                        ["metric", "estimated", "±3 sampling error", "realized", "in band", "thresholds", "alert"], estimate_rows(estimates))  # fmt: skip
        if doc["violations"]:
            print_table("violations", ["metric", "check", "description"],
                        ((v["metric_name"], v["constraint_check_type"], v["description"]) for v in doc["violations"]))  # fmt: skip

    emit(doc, as_json, render)


@app.command("cbpe-baseline")
def cbpe_baseline(
    data: str = ref_argument("DATA", None, help="Labelled rows with label and probability columns (or give --endpoint)."),
    endpoint: str = EndpointOpt,
    start: str = StartOpt,
    end: str = EndOpt,
    variant: str = VariantOpt,
    label: str = typer.Option("label", help="The ground-truth column (0/1) of DATA."),
    probability: str = typer.Option("probability", help="The positive-class probability's column, or key in captured outputs."),
    prediction: str = typer.Option(None, help="The predicted label's column or key (else probability >= --probability-threshold)."),
    probability_threshold: float = typer.Option(None, "--probability-threshold", help="Predict 1 at or above this probability."),
    chunks: int = typer.Option(10, help="Reference chunks for the alert thresholds (mean +- 3 std)."),
    name: str = typer.Option(None, help="Reference name (default: from the dataset or endpoint, with -cbpe)."),
    as_json: bool = JsonOption,
) -> None:
    """Fit a CBPE reference: label-free performance estimation for a binary classifier."""
    ws = workspace()
    with console(stderr=True).status("fitting CBPE"):
        rec = ws.monitoring.cbpe_baseline(data, endpoint=endpoint, start_time=start, end_time=end, variant=variant, label=label,
                                          probability=probability, prediction=prediction,
                                          probability_threshold=probability_threshold, chunks=chunks, name=name)  # fmt: skip
    model = ws.monitoring.cbpe(rec)
    emit(_record(rec) | {"cbpe": model}, as_json,
         lambda: typer.echo(f"stored {rec.ref}: {rec.data['item_count']} labelled rows, calibrated {rec.data['calibrated']}"))


from forgeml.cli._monitor_clarify import register  # noqa: E402  (bias and attribution drift commands)

register(app, EndpointOpt, StartOpt, EndOpt, VariantOpt, WaitOpt)
