"""``forgeml artifacts``: list, fetch and garbage-collect content-addressed artifacts."""

from __future__ import annotations

from pathlib import Path

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace
from forgeml.cli._refs import ref_argument

app = typer.Typer(help="Content-addressed artifacts (sha256).", no_args_is_help=True)


@app.command("ls")
def list_artifacts(
    unreferenced: bool = typer.Option(False, help="Only artifacts nothing references."),
    as_json: bool = JsonOption,
) -> None:
    """List stored artifacts."""
    data = [a.to_dict() for a in workspace().metadata.list_artifacts(unreferenced_only=unreferenced)]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} artifact(s)", ["digest", "size", "media type", "created"],
        ((d["digest"][:16], d["size"], d["media_type"], short_time(d["created_at"])) for d in data),
    ))  # fmt: skip


@app.command("get")
def get(digest: str = ref_argument("ARTIFACT"), dest: Path = typer.Argument(..., help="Where to write the verified bytes.")) -> None:
    """Copy an artifact out of the store, verifying its hash."""
    workspace().artifacts.get_file(digest, dest)
    typer.echo(f"wrote {dest}")


@app.command("gc")
def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would go."),
    as_json: bool = JsonOption,
) -> None:
    """Delete artifacts that no resource and no lineage edge references."""
    report = workspace().artifacts.gc(dry_run=dry_run)
    data = {"deleted": report.deleted, "freed_bytes": report.freed_bytes, "dry_run": dry_run}
    emit(data, as_json, lambda: typer.echo(
        f"{'would delete' if dry_run else 'deleted'} {len(report.deleted)} artifact(s), {report.freed_bytes} bytes"
    ))  # fmt: skip
