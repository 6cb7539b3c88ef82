"""``forgeml schedules``: cron and rate schedules that start targets."""

from __future__ import annotations

from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_table, workspace
from forgeml.cli.rules import clock, firing_rows, read_json

app = typer.Typer(help="Schedules: rate(5 minutes) or cron, in a time zone, starting a target.", no_args_is_help=True)


def _row(d: dict[str, Any]) -> tuple[Any, ...]:
    spec = d["spec"]
    kinds = ", ".join(t.get("type", "?") for t in spec["targets"])
    return (d["name"], d["status"], spec["expression"], spec["timezone"], kinds,
            clock(d["last_fire"]), clock(d["next_fire"]))  # fmt: skip


COLUMNS = ["name", "state", "expression", "timezone", "targets", "last fire", "next fire"]


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The schedule to create."),
    expression: str = typer.Option(..., "--expression", help="rate(N minutes|hours|days) or a cron expression ('0 6 * * 1-5')."),
    target: list[str] = typer.Option(..., "--target", help='A target as JSON, or @FILE; repeatable.'),
    timezone: str = typer.Option("UTC", help="IANA time zone the cron expression is read in (Europe/Berlin)."),
    description: str = typer.Option("", help="What the schedule is for."),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled."),
    as_json: bool = JsonOption,
) -> None:
    """Define a schedule."""
    ws = workspace()
    record = ws.schedules.create(name, expression, [read_json(t, f"--target {i + 1}") for i, t in enumerate(target)],
                                 timezone=timezone, description=description, enabled=not disabled)  # fmt: skip
    shown = ws.schedules.describe(record)
    emit(shown, as_json, lambda: print_table(None, COLUMNS, [_row(shown)]))


@app.command("ls")
def list_schedules(as_json: bool = JsonOption) -> None:
    """Every schedule with its last and next fire."""
    ws = workspace()
    shown = [ws.schedules.describe(r) for r in ws.schedules.list()]
    emit(shown, as_json, lambda: print_table("schedules", COLUMNS, [_row(d) for d in shown]))


@app.command("show")
def show(name: str = typer.Argument(..., help="Schedule name."), as_json: bool = JsonOption) -> None:
    """A schedule with its targets, last and next fire."""
    ws = workspace()
    shown = ws.schedules.describe(ws.schedules.get(name))
    emit(shown, as_json, lambda: print_table(None, COLUMNS, [_row(shown)]))


@app.command("enable")
def enable(name: str = typer.Argument(..., help="Schedule name."), as_json: bool = JsonOption) -> None:
    """Enable a schedule (times missed while disabled are not made up)."""
    record = workspace().schedules.enable(name)
    emit(record.to_dict(), as_json, lambda: typer.echo(f"schedule {record.name}: {record.status}"))


@app.command("disable")
def disable(name: str = typer.Argument(..., help="Schedule name."), as_json: bool = JsonOption) -> None:
    """Disable a schedule."""
    record = workspace().schedules.disable(name)
    emit(record.to_dict(), as_json, lambda: typer.echo(f"schedule {record.name}: {record.status}"))


@app.command("delete")
def delete(name: str = typer.Argument(..., help="Schedule name."), as_json: bool = JsonOption) -> None:
    """Delete a schedule and its firings."""
    workspace().schedules.delete(name)
    emit({"deleted": name}, as_json, lambda: typer.echo(f"schedule {name} deleted"))


@app.command("firings")
def firings(name: str = typer.Argument(..., help="Schedule name."), limit: int = typer.Option(100, min=1, max=10_000),
            as_json: bool = JsonOption) -> None:  # fmt: skip
    """Each fire (time, target, outcome), newest first."""
    rows = workspace().schedules.history(name, limit)
    emit(rows, as_json, lambda: print_table(f"firings of {name}", ["fire time", "target", "type", "state", "at", "outcome"], firing_rows(rows)))
