"""``forgeml reports``: find every stored report and write (or open) its HTML page."""

from __future__ import annotations

from pathlib import Path

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace
from forgeml.cli._refs import HtmlOption, OpenOption, export_report, ref_argument

app = typer.Typer(help="Reports: profiles, validations, evaluations, bias, explanations, model cards, compile reports.",
                  no_args_is_help=True)  # fmt: skip


@app.command("ls")
def list_reports(
    kind: str = typer.Option(None, help="Only this kind: data-profile, data-validation, evaluation, bias-report, explanation, model-card, model."),
    as_json: bool = JsonOption,
) -> None:
    """Every stored report, newest first, with the file it is written to by `reports export`."""
    ws = workspace()
    data = [{"ref": r.ref, "kind": r.kind, "created_at": r.to_dict()["created_at"], "path": str(ws.reports.default_path(r))}
            for r in ws.reports.list(kind)]  # fmt: skip
    emit(data, as_json, lambda: print_table(f"{len(data)} report(s)", ["ref", "created", "exported to"],
                                            ((d["ref"], short_time(d["created_at"]), d["path"]) for d in data)))  # fmt: skip


@app.command("export")
def export(
    ref: str = ref_argument("REPORT"),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
) -> None:
    """Write a report's HTML page (to --html, else under <home>/reports/) and print its path."""
    path = export_report(ref, html, open_) or workspace().reports.write(ref)
    typer.echo(str(path))
