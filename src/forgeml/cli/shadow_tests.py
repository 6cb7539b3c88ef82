"""``forgeml shadow-tests``: shadow tests of a live endpoint (SageMaker's InferenceExperiment)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_table, workspace
from forgeml.cli._refs import ref_option

app = typer.Typer(
    help="Shadow tests: copy a sample of live requests to a new model, compare, promote or discard.",
    no_args_is_help=True,
)


def _clock(t: float | None) -> str:
    return "-" if not t else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _row(r: Any) -> tuple[Any, ...]:
    s = r.spec
    decision = (r.data.get("decision") or {}).get("action", "-")
    return (r.name, r.status, s["endpoint"], f"{s['production_variant']} -> {s['shadow_variant']}", f"{s['sampling_percentage']:g}%",
            _clock(s["start"]), _clock(s["end"]), decision)  # fmt: skip


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def report_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The report as (measure, production, shadow) rows."""
    p, s = report["production"], report["shadow"]
    rows = [("requests", str(p["requests"]), str(s["requests"])), ("errors", str(p["errors"]), str(s["errors"])),
            ("error rate", f"{p['error_rate'] or 0:.2%}", f"{s['error_rate'] or 0:.2%}")]  # fmt: skip
    for key in ("p50", "p90", "p99", "mean", "max"):
        rows.append((f"latency {key} (ms)", _ms(p["latency_ms"][key]), _ms(s["latency_ms"][key])))
    agreement = report.get("agreement")
    if agreement:
        rate = agreement["rate"]
        rows.append(("label agreement", "-" if rate is None else f"{rate:.2%} of {report['compared_rows']} rows", ""))
    diff = report.get("difference")
    if diff:
        rows += [("shadow - production: mean", f"{diff['mean']:.4g}", ""), ("|difference| mean", f"{diff['mean_absolute']:.4g}", ""),
                 ("|difference| p90", f"{diff['p90_absolute']:.4g}", ""), ("|difference| max", f"{diff['max_absolute']:.4g}", "")]  # fmt: skip
    return rows


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The shadow test's name (also the shadow variant's, unless --shadow-variant)."),
    endpoint: str = ref_option("ENDPOINT", "--endpoint", default=..., help="The live endpoint."),
    model: str = ref_option("PACKAGE", "--model", default=..., help="The shadow model."),
    sampling: float = typer.Option(100.0, "--sampling-percentage", help="Share of the production variant's requests copied, 0-100."),
    duration: float = typer.Option(None, "--duration", help="Seconds the test runs (default 7 days, at most 30)."),
    start_in: float = typer.Option(0.0, "--start-in", help="Start this many seconds from now (default: now)."),
    production_variant: str = typer.Option(None, "--production-variant", help="The variant whose requests are copied (default: the first)."),
    shadow_variant: str = typer.Option(None, "--shadow-variant", help="The shadow variant's name."),
    problem_type: str = typer.Option("auto", "--problem-type", help="auto, classification or regression."),
    as_json: bool = JsonOption,
) -> None:
    """Create a shadow test (Running now, or Created until --start-in passes)."""
    import time

    start = time.time() + start_in if start_in else None
    record = workspace().shadow_tests.create(
        name, endpoint, model, sampling_percentage=sampling, start=start, duration_seconds=duration,
        production_variant=production_variant, shadow_variant=shadow_variant, problem_type=problem_type,
    )  # fmt: skip
    emit(record.to_dict(), as_json, lambda: typer.echo(f"shadow test {record.name}: {record.status} on endpoint {record.spec['endpoint']}"))


@app.command("ls")
def list_tests(as_json: bool = JsonOption) -> None:
    """Every shadow test with its status and schedule."""
    records = workspace().shadow_tests.list()
    emit([r.to_dict() for r in records], as_json, lambda: print_table(
        "shadow tests", ["name", "status", "endpoint", "variants", "sampling", "start", "end", "decision"], [_row(r) for r in records]))  # fmt: skip


@app.command("show")
def show(name: str = typer.Argument(..., help="Shadow test name."), as_json: bool = JsonOption) -> None:
    """A shadow test's config, status and steps."""
    record = workspace().shadow_tests.get(name)

    def table() -> None:
        print_table(f"shadow test {record.name}", ["status", "step", "at"],
                    [(s["status"], s["step"], _clock(s["at"])) for s in record.data.get("steps", [])])  # fmt: skip

    emit(record.to_dict(), as_json, table)


@app.command("report")
def report(name: str = typer.Argument(..., help="Shadow test name."), as_json: bool = JsonOption) -> None:
    """The comparison: latency percentiles, error rates, agreement or difference distribution."""
    data = workspace().shadow_tests.report(name)
    emit(data, as_json, lambda: print_table(f"shadow test {name}: {data['requests']} request(s), {data['problem_type'] or 'no answers yet'}",
                                            ["measure", "production", "shadow"], report_rows(data)))  # fmt: skip


@app.command("stop")
def stop(
    name: str = typer.Argument(..., help="Shadow test name."),
    cancel: bool = typer.Option(False, "--cancel", help="End it as Cancelled rather than Completed."),
    as_json: bool = JsonOption,
) -> None:
    """End the test and discard the shadow (its report is kept)."""
    record = workspace().shadow_tests.stop(name, cancel=cancel)
    emit(record.to_dict(), as_json, lambda: typer.echo(f"shadow test {record.name}: {record.status}"))


@app.command("promote")
def promote(
    name: str = typer.Argument(..., help="Shadow test name."),
    deployment_config: Path = typer.Option(None, "--deployment-config", help="DeploymentConfig file (JSON or YAML) for the promotion."),
    as_json: bool = JsonOption,
) -> None:
    """Deploy the shadow model as the production variant's model (the test is stopped first)."""
    from forgeml.cli.endpoints import _load_mapping

    dep = _load_mapping(deployment_config, "deployment config") if deployment_config is not None else None
    record = workspace().shadow_tests.promote(name, deployment_config=dep)
    d = record.data["decision"]
    emit(record.to_dict(), as_json, lambda: typer.echo(
        f"shadow test {record.name}: promoted to endpoint {record.spec['endpoint']} version {d['endpoint_version']} ({d['deployment']})"))  # fmt: skip
