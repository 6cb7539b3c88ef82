"""``forgeml jobs``: list, inspect, follow and stop jobs of every kind."""

from __future__ import annotations

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace
from forgeml.cli._refs import ref_argument

app = typer.Typer(help="Jobs of every kind: processing, training, tuning, transform, monitoring.", no_args_is_help=True)


@app.command("ls")
def list_jobs(
    kind: str = typer.Option(None, help="Only jobs of this kind."),
    status: list[str] = typer.Option(None, help="Only jobs in this status (repeatable)."),
    name: str = typer.Option(None, "--name-contains", help="Only jobs whose name contains this."),
    limit: int = typer.Option(50, help="At most this many (newest first); 0 for all."),
    as_json: bool = JsonOption,
) -> None:
    """List jobs, newest first."""
    jobs = workspace().jobs.list(kind=kind, status=status or None, name_contains=name, limit=limit or None)
    data = [j.to_dict() for j in jobs]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} job(s)", ["name", "kind", "status", "secondary", "created", "ended"],
        ((d["name"], d["kind"], d["status"], d["secondary_status"], short_time(d["created_at"]), short_time(d["ended_at"])) for d in data),
    ))  # fmt: skip


@app.command("show")
def show(name: str = ref_argument("JOB"), as_json: bool = JsonOption) -> None:
    """Everything about one job."""
    ws = workspace()
    job = ws.jobs.get(name)
    data = job.to_dict()
    data["metrics"] = ws.metadata.latest_metrics([job.ref]).get(job.ref, {})

    def render() -> None:
        rows = [(k, v) for k, v in data.items() if k not in ("config", "handle", "metrics")]
        rows += [("config", data["config"]), ("metrics", data["metrics"])]
        print_table(f"job {name}", ["field", "value"], rows)

    emit(data, as_json, render)


@app.command("logs")
def logs(name: str = ref_argument("JOB"), follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends.")) -> None:
    """Print a job's log."""
    for line in workspace().jobs.logs(name, follow=follow):
        typer.echo(line)


@app.command("metrics")
def metrics(name: str = ref_argument("JOB"), key: str = typer.Option(None, help="Only this metric."), as_json: bool = JsonOption) -> None:
    """A job's metric series."""
    data = [m.to_dict() for m in workspace().jobs.metrics(name, key)]
    emit(data, as_json, lambda: print_table(f"metrics of {name}", ["key", "step", "value"], ((d["key"], d["step"], d["value"]) for d in data)))


@app.command("stop")
def stop(name: str = ref_argument("JOB"), wait: bool = typer.Option(False, help="Wait until it has stopped.")) -> None:
    """Stop a job: SIGTERM, then SIGKILL after the grace period."""
    job = workspace().jobs.stop(name, wait=wait)
    typer.echo(f"job {name}: {job.status}")


@app.command("wait")
def wait(name: str = ref_argument("JOB"), timeout: float = typer.Option(None, help="Give up after this many seconds.")) -> None:
    """Wait for a job to end, showing its phase; exit non-zero unless it completed."""
    import time

    from forgeml.cli._common import console

    jobs = workspace().jobs
    deadline = None if timeout is None else time.monotonic() + timeout
    with console(stderr=True).status(f"job {name}") as status:
        while True:
            job = jobs.get(name)
            status.update(f"job {name}: {job.status} / {job.secondary_status or '-'}")
            if job.is_terminal or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(0.5)
    job = jobs.wait(name, timeout=0 if deadline is not None else None)
    typer.echo(f"job {name}: {job.status}")
