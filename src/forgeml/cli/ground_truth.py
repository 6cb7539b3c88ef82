"""``forgeml ground-truth``: labels for captured requests, arriving after the predictions."""

from __future__ import annotations

from pathlib import Path

import typer

from forgeml.cli._common import JsonOption, emit, workspace
from forgeml.cli._refs import ref_argument

app = typer.Typer(help="Ground truth for model-quality monitoring (SageMaker's ground-truth JSON Lines).", no_args_is_help=True)


@app.command("upload")
def upload(
    endpoint: str = ref_argument("ENDPOINT"),
    file: Path = typer.Argument(..., metavar="FILE", help="A .jsonl file: one {groundTruthData, eventMetadata: {eventId}} per line."),
    collected_at: str = typer.Option(None, "--collected-at", help="The hour the labels were collected (ISO-8601; default now)."),
    as_json: bool = JsonOption,
) -> None:
    """Upload ground truth keyed by the captures' inferenceId (or eventId); a bad line stores nothing."""
    out = workspace().monitoring.upload_ground_truth(endpoint, str(file), collected_at=collected_at)
    emit(out, as_json, lambda: typer.echo(f"stored {out['records']} ground-truth records for {out['endpoint']}"
                                          + (f"; {out['unknown_event_ids']} match no captured request" if out["unknown_event_ids"] else "")))  # fmt: skip
