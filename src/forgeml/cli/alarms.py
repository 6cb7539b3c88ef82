"""``forgeml alarms``: metric alarms (CloudWatch semantics), their history and metrics."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_table, workspace

app = typer.Typer(
    help="Metric alarms: OK / ALARM / INSUFFICIENT_DATA on any metric, with history.",
    no_args_is_help=True,
)


def _clock(t: float | None) -> str:
    return "-" if not t else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _row(r: Any) -> tuple[Any, ...]:
    c = r.data["config"]
    rule = f"{c['statistic']} {c['comparison_operator']} {c['threshold']:g} ({c['datapoints_to_alarm']}/{c['evaluation_periods']} x {c['period']}s)"
    return (
        r.name,
        r.status,
        f"{c['namespace']}/{c['metric_name']}",
        rule,
        _clock(r.data.get("state_updated_at")),
    )


@app.command("put")
def put(file: Path = typer.Argument(..., help="Alarm config (JSON or YAML): name, namespace, metric_name, threshold, ..."),
        as_json: bool = JsonOption) -> None:  # fmt: skip
    """Create an alarm (INSUFFICIENT_DATA) or replace its config (its state is kept)."""
    from forgeml.cli.endpoints import _load_mapping

    record = workspace().alarms.put(_load_mapping(file, "alarm config"))
    emit(record.to_dict(), as_json, lambda: typer.echo(f"alarm {record.name}: {record.status}"))


@app.command("ls")
def list_alarms(
    state: str = typer.Option(None, help="Only alarms in this state."), as_json: bool = JsonOption
) -> None:
    """Every alarm with its state."""
    records = workspace().alarms.list(state)
    emit([r.to_dict() for r in records], as_json,
         lambda: print_table("alarms", ["name", "state", "metric", "rule", "since"], [_row(r) for r in records]))  # fmt: skip


@app.command("show")
def show(name: str = typer.Argument(..., help="Alarm name."), as_json: bool = JsonOption) -> None:
    """An alarm's config, state and reason."""
    record = workspace().alarms.get(name)

    def render() -> None:
        print_table(None, ["name", "state", "metric", "rule", "since"], [_row(record)])
        typer.echo(record.data.get("reason", ""))

    emit(record.to_dict(), as_json, render)


@app.command("history")
def history(name: str = typer.Argument(..., help="Alarm name."), limit: int = typer.Option(100, min=1, max=10_000),
            as_json: bool = JsonOption) -> None:  # fmt: skip
    """State changes, configuration changes and webhook actions, oldest first."""
    events = workspace().alarms.history(name, limit)

    def summary(e: Any) -> str:
        if e.type == "AlarmStateChange":
            return f"{e.data['summary']}: {e.data['state']['reason']}"
        if e.type == "AlarmAction":
            return f"webhook {e.data.get('url')}: {e.data.get('status') or e.data.get('error')}"
        return f"configuration {e.data.get('operation', 'update')}"

    emit([e.__dict__ for e in events], as_json,
         lambda: print_table("history", ["time", "type", "summary"], [(_clock(e.time), e.type, summary(e)) for e in events]))  # fmt: skip


@app.command("evaluate")
def evaluate(
    names: list[str] = typer.Argument(None, help="Alarms to evaluate (default: all)."),
    as_json: bool = JsonOption,
) -> None:
    """Evaluate alarms once now (``forgeml server`` does it every FORGEML_ALARM_EVALUATION_SECONDS)."""
    ws = workspace()
    changed = ws.alarms.evaluate(names or None)
    emit([r.to_dict() for r in changed], as_json,
         lambda: typer.echo("\n".join(f"alarm {r.name}: {r.status}: {r.data.get('reason')}" for r in changed) or "no state changed"))  # fmt: skip


@app.command("set-state")
def set_state(name: str = typer.Argument(...), state: str = typer.Argument(..., help="OK, ALARM or INSUFFICIENT_DATA."),
              reason: str = typer.Option("set by hand", help="The reason recorded."), as_json: bool = JsonOption) -> None:  # fmt: skip
    """Force a state until the next evaluation (SetAlarmState: drills, tests)."""
    record = workspace().alarms.set_state(name, state, reason)
    emit(record.to_dict(), as_json, lambda: typer.echo(f"alarm {record.name}: {record.status}"))


@app.command("delete")
def delete(name: str = typer.Argument(...)) -> None:
    """Delete an alarm (its history stays in the events)."""
    workspace().alarms.delete(name)
    typer.echo(f"alarm {name} deleted")


@app.command("put-metric")
def put_metric(namespace: str = typer.Argument(...), metric: str = typer.Argument(...), value: float = typer.Argument(...),
               dimension: list[str] = typer.Option(None, "--dimension", "-d", help="NAME=VALUE, repeatable."),
               as_json: bool = JsonOption) -> None:  # fmt: skip
    """Publish one datapoint now (PutMetricData)."""
    from forgeml.errors import ValidationError

    dims = {}
    for item in dimension or []:
        key, sep, val = item.partition("=")
        if not sep:
            raise ValidationError(f"bad --dimension {item!r}: use NAME=VALUE")
        dims[key] = val
    workspace().alarms.metrics.put_value(namespace, metric, value, dims)
    emit(
        {"namespace": namespace, "name": metric, "value": value, "dimensions": dims},
        as_json,
        lambda: typer.echo("1 datapoint stored"),
    )


@app.command("metrics")
def metrics(
    namespace: str = typer.Option(None), name: str = typer.Option(None), as_json: bool = JsonOption
) -> None:
    """The metric series in the store (ListMetrics)."""
    found = workspace().alarms.metrics.series(namespace, name)
    emit(found, as_json, lambda: print_table("metrics", ["namespace", "name", "dimensions"],
                                               [(s["namespace"], s["name"], json.dumps(s["dimensions"])) for s in found]))  # fmt: skip


@app.command("stats")
def stats(namespace: str = typer.Argument(...), name: str = typer.Argument(...),
          dimension: list[str] = typer.Option(None, "--dimension", "-d", help="NAME=VALUE, repeatable."),
          statistic: str = typer.Option("Average"), period: int = typer.Option(60, min=1, max=86_400),
          minutes: int = typer.Option(60, min=1, max=20_160, help="How far back."), as_json: bool = JsonOption) -> None:  # fmt: skip
    """A statistic per period (GetMetricStatistics); '-' marks a period without data."""
    dims = dict(item.partition("=")[::2] for item in dimension or [])
    end = float(int(time.time() // period * period + period))
    rows = workspace().alarms.metrics.statistics(
        namespace, name, dims, start=end - minutes * 60, end=end, period=period, statistic=statistic
    )
    emit([{"timestamp": t, "value": v} for t, v in rows], as_json,
         lambda: print_table(f"{namespace}/{name} {statistic}", ["period", "value"], [(_clock(t), "-" if v is None else f"{v:g}") for t, v in rows]))  # fmt: skip
