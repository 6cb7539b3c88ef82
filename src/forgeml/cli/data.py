"""``forgeml data``: ingest, list, inspect, compare, export and import versioned datasets.

Other data modules (profiling, validation, PII, recipes, splits) add their commands to this
same Typer ``app``.
"""

from __future__ import annotations

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace

app = typer.Typer(help="Datasets: ingestion, immutable versions, diff, head, export/import.", no_args_is_help=True)


@app.command("ls")
def list_datasets(as_json: bool = JsonOption) -> None:
    """List datasets (latest version of each)."""
    data = [r.to_dict() for r in workspace().datasets.list()]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} dataset(s)", ["name", "version", "rows", "columns", "created"],
        ((d["name"], d["version"], d["data"].get("rows"), len(d["data"].get("schema", [])), short_time(d["created_at"])) for d in data),
    ))  # fmt: skip


@app.command("versions")
def versions(name: str, as_json: bool = JsonOption) -> None:
    """Every version of one dataset, newest first."""
    data = [r.to_dict() for r in workspace().datasets.versions(name)]
    emit(data, as_json, lambda: print_table(
        f"dataset {name}", ["version", "rows", "content hash", "source", "created"],
        ((d["version"], d["data"].get("rows"), (d["data"].get("content_hash") or "")[:16], d["spec"].get("source"), short_time(d["created_at"])) for d in data),
    ))  # fmt: skip
