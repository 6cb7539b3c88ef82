"""``forgeml audit``: the audit trail of the REST API (who did what, from where, allowed or not)."""

from __future__ import annotations

import typer

from forgeml.cli._common import JsonOption, emit, print_table, workspace

app = typer.Typer(help="The audit trail: every authenticated call and every denial (docs/security.md).", no_args_is_help=True)


@app.command("ls")
def ls(
    principal: str = typer.Option(None, "--principal", help="Only this principal's calls."),
    action: str = typer.Option(None, "--action", help="Only this action (e.g. models:Approve)."),
    since: str = typer.Option(None, "--since", help="Only since this time: 30m, 2h, 7d, or an ISO time (UTC)."),
    limit: int = typer.Option(100, min=0, help="At most this many, the newest (printed last); 0 for all."),
    as_json: bool = JsonOption,
) -> None:
    """List audit records, oldest first."""
    import datetime as dt

    from forgeml.cli.events import parse_since
    from forgeml.security import AuditLog

    found = AuditLog(workspace()).records(
        principal=principal, action=action, since=None if since is None else parse_since(since), limit=limit or None
    )
    data = [r.to_dict() for r in found]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} record(s), newest last", ["id", "time", "principal", "action", "resource", "outcome", "source", "request_id", "detail"],
        ((d["id"], dt.datetime.fromtimestamp(d["time"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S"), d["principal"], d["action"],
          d["resource"], d["outcome"], d["source"], d["request_id"], d["detail"]) for d in data),
    ))  # fmt: skip


@app.command("verify")
def verify(as_json: bool = JsonOption) -> None:
    """Check the hash chain: name every edited, deleted or reordered record (exit 10 if any)."""
    from forgeml.security import AuditLog

    log = AuditLog(workspace())
    problems = log.verify()
    data = {"intact": not problems, "records": len(log.records()), "problems": problems}
    emit(data, as_json, lambda: typer.echo(
        f"audit trail intact ({data['records']} records)" if not problems else "\n".join(problems)
    ))  # fmt: skip
    if problems:
        raise typer.Exit(10)
