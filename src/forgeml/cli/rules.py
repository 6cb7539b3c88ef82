"""``forgeml rules``: event rules (EventBridge patterns over ForgeML's events) and their firings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_table, workspace

app = typer.Typer(help="Event rules: match events by pattern and start a target (pipeline, webhook, callable).", no_args_is_help=True)


def read_json(text: str, what: str) -> Any:
    """Inline JSON/YAML, or ``@FILE`` holding it."""
    from forgeml.errors import ValidationError

    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise ValidationError(f"{what}: file {path} does not exist")
        text = path.read_text()
    import yaml

    try:
        return yaml.safe_load(text)  # YAML reads JSON too
    except yaml.YAMLError as exc:
        raise ValidationError(f"{what}: not valid JSON or YAML: {str(exc).splitlines()[0]}") from None


def _targets(target: list[str]) -> list[Any]:
    return [read_json(t, f"--target {i + 1}") for i, t in enumerate(target)]


def _row(r: Any) -> tuple[Any, ...]:
    kinds = ", ".join(t.get("type", "?") for t in r.spec["targets"])
    return r.name, r.status, json.dumps(r.spec["pattern"], separators=(",", ":"))[:70], kinds, r.spec.get("description", "")


def clock(t: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SS`` UTC (``-`` when unset)."""
    from datetime import UTC, datetime

    return "-" if not t else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def firing_rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    def what(f: dict[str, Any]) -> str:
        out = f.get("outcome") or {}
        return str(out.get("error") or out.get("result", ""))[:80]

    return [(f["event_key"], f["target"], f["target_type"], f["state"], clock(f["claimed_at"]), what(f)) for f in rows]


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The rule to create."),
    pattern: str = typer.Option(..., "--pattern", help='Event pattern as JSON/YAML, or @FILE; e.g. {"source": ["forgeml.alarms"]}.'),
    target: list[str] = typer.Option(..., "--target", help='A target as JSON, or @FILE; e.g. {"type": "webhook", "url": "https://hooks.example/x"}; repeatable.'),
    description: str = typer.Option("", help="What the rule is for."),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled."),
    as_json: bool = JsonOption,
) -> None:
    """Define a rule; a pattern that can never match is accepted with a warning."""
    record = workspace().rules.create(name, read_json(pattern, "--pattern"), _targets(target), description=description, enabled=not disabled)

    def render() -> None:
        typer.echo(f"rule {record.name}: {record.status}")
        for warning in record.data.get("warnings", []):
            typer.echo(f"warning: {warning}", err=True)

    emit(record.to_dict(), as_json, render)


@app.command("ls")
def list_rules(as_json: bool = JsonOption) -> None:
    """Every rule."""
    records = workspace().rules.list()
    emit([r.to_dict() for r in records], as_json,
         lambda: print_table("rules", ["name", "state", "pattern", "targets", "description"], [_row(r) for r in records]))  # fmt: skip


@app.command("show")
def show(name: str = typer.Argument(..., help="Rule name."), as_json: bool = JsonOption) -> None:
    """A rule's pattern, targets and warnings."""
    record = workspace().rules.get(name)

    def render() -> None:
        print_table(None, ["name", "state", "pattern", "targets", "description"], [_row(record)])
        typer.echo(json.dumps(record.spec, indent=2))
        for warning in record.data.get("warnings", []):
            typer.echo(f"warning: {warning}")

    emit(record.to_dict(), as_json, render)


@app.command("enable")
def enable(name: str = typer.Argument(..., help="Rule name."), as_json: bool = JsonOption) -> None:
    """Enable a rule: it reacts to events from now on."""
    record = workspace().rules.enable(name)
    emit(record.to_dict(), as_json, lambda: typer.echo(f"rule {record.name}: {record.status}"))


@app.command("disable")
def disable(name: str = typer.Argument(..., help="Rule name."), as_json: bool = JsonOption) -> None:
    """Disable a rule."""
    record = workspace().rules.disable(name)
    emit(record.to_dict(), as_json, lambda: typer.echo(f"rule {record.name}: {record.status}"))


@app.command("delete")
def delete(name: str = typer.Argument(..., help="Rule name."), as_json: bool = JsonOption) -> None:
    """Delete a rule and its firings."""
    workspace().rules.delete(name)
    emit({"deleted": name}, as_json, lambda: typer.echo(f"rule {name} deleted"))


@app.command("firings")
def firings(name: str = typer.Argument(..., help="Rule name."), limit: int = typer.Option(100, min=1, max=10_000),
            as_json: bool = JsonOption) -> None:  # fmt: skip
    """Each firing (event, target, outcome), newest first."""
    rows = workspace().rules.history(name, limit)
    emit(rows, as_json, lambda: print_table(f"firings of {name}", ["event", "target", "type", "state", "at", "outcome"], firing_rows(rows)))


@app.command("test-pattern")
def test_pattern(
    pattern: str = typer.Option(..., "--pattern", help="Event pattern as JSON/YAML, or @FILE."),
    event: str = typer.Option(None, "--event", help="An EventBridge event as JSON, or @FILE."),
    event_id: int = typer.Option(None, "--event-id", min=1, help="A stored event's id (see forgeml events)."),
    as_json: bool = JsonOption,
) -> None:
    """Whether an event matches a pattern (exit 0) or not (exit 1)."""
    from forgeml.errors import ValidationError

    if (event is None) == (event_id is None):
        raise ValidationError("test-pattern: give exactly one of --event and --event-id")
    out = workspace().rules.test_pattern(read_json(pattern, "--pattern"), event_id if event is None else read_json(event, "--event"))

    def render() -> None:
        typer.echo("matches" if out["matches"] else "does not match")
        for warning in out["warnings"]:
            typer.echo(f"warning: {warning}")

    emit(out, as_json, render)
    raise typer.Exit(0 if out["matches"] else 1)
