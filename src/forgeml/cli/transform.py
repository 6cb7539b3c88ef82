"""``forgeml transform``: batch transform jobs (create, ls, show, wait)."""

from __future__ import annotations

from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace
from forgeml.cli._refs import ref_argument, ref_option

app = typer.Typer(help="Batch transform jobs: score files or a dataset with a registered model.", no_args_is_help=True)


def _follow(name: str) -> Any:
    """Wait for the job with a Rich progress bar (fraction of input bytes, records done)."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from forgeml.cli._common import console

    ws = workspace()
    ws.transforms.get(name)  # an unknown job is an error before any progress bar is drawn
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                  TextColumn("{task.fields[records]} records"), TimeElapsedColumn(), console=console(stderr=True)) as bar:  # fmt: skip
        task = bar.add_task(name, total=1.0, records=0)
        while True:
            job = ws.transforms.get(name)
            done, records = ws.transforms.progress(name)
            bar.update(task, completed=done, records=records)
            if job.is_terminal:
                break
            time.sleep(0.25)
    return ws.transforms.wait(name)


@app.command("create")
def create(
    model: str = ref_argument("PACKAGE"),
    inputs: list[str] = typer.Argument(None, help="Input files or folders."),
    dataset: str = ref_option("DATASET", "--dataset", help="Transform a dataset instead of files."),
    name: str = typer.Option(None, help="Job name (generated when omitted)."),
    output_path: str = typer.Option(None, "--output-path", help="Folder for the .out files."),
    content_type: str = typer.Option(None, "--content-type", help="text/csv (default for files), application/jsonlines (default for --dataset) or application/json."),
    accept: str = typer.Option(None, help="Output media type (default: the content type)."),
    split_type: str = typer.Option("None", "--split-type", help="None (whole file per request) or Line."),
    batch_strategy: str = typer.Option(None, "--batch-strategy", help="SingleRecord or MultiRecord (with --split-type Line)."),
    max_payload_mb: int = typer.Option(6, "--max-payload-mb", help="Request size limit, 0-100 MB (0: no limit)."),
    workers: int = typer.Option(None, "--max-concurrent-transforms", help="Parallel requests (default: CPU cores)."),
    assemble_with: str = typer.Option("None", "--assemble-with", help="None or Line."),
    input_filter: str = typer.Option("$", "--input-filter", help="JSONPath applied to each input record."),
    output_filter: str = typer.Option("$", "--output-filter", help="JSONPath applied to each output record."),
    join_source: str = typer.Option("None", "--join-source", help="None or Input (join the input record to its prediction)."),
    compression: str = typer.Option("None", "--compression-type", help="None or Gzip."),
    wait: bool = typer.Option(False, "--wait", help="Follow the job with a progress bar until it ends."),
    untrusted: bool = typer.Option(False, "--untrusted", help="Load only an ONNX model (a compiled package); never unpickle."),
) -> None:
    """Start a batch transform job."""
    ws = workspace()
    chosen = {"content_type": content_type} if content_type else {}  # else the SDK's default for the input
    job = ws.transforms.create(
        model, inputs or None, dataset=dataset, name=name, output_path=output_path, **chosen,
        accept=accept, split_type=split_type, batch_strategy=batch_strategy, max_payload_mb=max_payload_mb,
        max_concurrent_transforms=workers, assemble_with=assemble_with, input_filter=input_filter,
        output_filter=output_filter, join_source=join_source, compression_type=compression, trusted=not untrusted,
    )  # fmt: skip
    typer.echo(f"transform job {job.name}: {job.status}")
    if wait:
        job = _follow(job.name)
        info = ws.transforms.describe(job.name)
        typer.echo(f"transform job {job.name}: {job.status}; output in {info['output_path']}")


@app.command("ls")
def list_jobs(
    status: list[str] = typer.Option(None, help="Only jobs in this status (repeatable)."),
    limit: int = typer.Option(50, help="At most this many (newest first); 0 for all."),
    as_json: bool = JsonOption,
) -> None:
    """List transform jobs, newest first."""
    data = [j.to_dict() for j in workspace().transforms.list(status=status or None, limit=limit or None)]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} transform job(s)", ["name", "status", "model", "created", "ended"],
        ((d["name"], d["status"], d["config"]["transform"]["model"], short_time(d["created_at"]), short_time(d["ended_at"])) for d in data),
    ))  # fmt: skip


@app.command("show")
def show(name: str = ref_argument("JOB"), as_json: bool = JsonOption) -> None:
    """A transform job, its settings and per-file results."""
    data = workspace().transforms.describe(name)

    def render() -> None:
        t = data["transform"]
        rows = [("status", data["status"]), ("failure", data["failure_reason"]), ("model", t["model"]),
                ("inputs", t["dataset"] or ", ".join(t["inputs"])), ("output", data["output_path"]),
                ("split / batch", f"{t['split_type']} / {t['batch_strategy']}"), ("content / accept", f"{t['content_type']} / {t['accept']}"),
                ("filters", f"in {t['input_filter']}  out {t['output_filter']}  join {t['join_source']}"),
                ("metrics", data["metrics"])]  # fmt: skip
        print_table(f"transform job {name}", ["field", "value"], rows)
        if data["files"]:
            print_table("files", ["input", "status", "records", "seconds", "error"],
                        ((f["input"], f["status"], f["records"], f["seconds"], f["error"]) for f in data["files"]))  # fmt: skip

    emit(data, as_json, render)


@app.command("wait")
def wait(name: str = ref_argument("JOB")) -> None:
    """Follow a transform job with a progress bar; exit non-zero unless it completed."""
    job = _follow(name)
    typer.echo(f"transform job {name}: {job.status}")
