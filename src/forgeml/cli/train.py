"""``forgeml train``: create, list, inspect, follow, stop and wait for training jobs."""

from __future__ import annotations

from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_table, short_time, workspace
from forgeml.cli._refs import ref_argument
from forgeml.cli._training import FeatureOption, RecipeOption, apply_inputs, read_spec

app = typer.Typer(help="Training jobs: built-in algorithms and SageMaker script mode.", no_args_is_help=True)


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    from forgeml.errors import ValidationError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"{what} {item!r} must look like NAME=VALUE")
        out[key] = value
    return out


@app.command("create")
def create(
    name: str = typer.Argument(None, help="Job name (generated when omitted)."),
    spec: str = typer.Option(None, "--spec", "-f", help="JSON or YAML file of create() arguments; flags override it."),
    algorithm: str = typer.Option(None, help="Built-in algorithm (see 'forgeml train algorithms')."),
    script: str = typer.Option(None, help="Script-mode train.py."),
    source_dir: str = typer.Option(None, help="Folder holding the script (and a requirements.txt)."),
    channel: list[str] = typer.Option(None, "--channel", "-c", help="CHANNEL=dataset/NAME[:V] or CHANNEL=PATH (repeatable)."),
    hp: list[str] = typer.Option(None, "--hp", help="Hyperparameter NAME=VALUE (repeatable)."),
    target: str = typer.Option(None, help="Label column."),
    feature: list[str] = FeatureOption,
    metric: list[str] = typer.Option(None, "--metric", help="Metric definition NAME=REGEX (repeatable)."),
    rule: list[str] = typer.Option(None, "--rule", help="Debugger rule name (repeatable)."),
    max_runtime: float = typer.Option(None, "--max-runtime", help="Stop after this many seconds."),
    checkpoint: bool = typer.Option(None, "--checkpoint/--no-checkpoint", help="Resume from checkpoints after interruptions."),
    recipe: str = RecipeOption,
    experiment: str = typer.Option(None, help="Experiment to log the run into."),
    seed: int = typer.Option(None, help="Random seed."),
    cpus: int = typer.Option(None, help="CPUs for the job."),
    network_isolation: bool = typer.Option(None, "--network-isolation/--network", help="Run a script without network access."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the job and show its progress."),
    as_json: bool = JsonOption,
) -> None:
    """Create a training job from flags and/or a spec file."""
    args: dict[str, Any] = read_spec(spec) if spec else {}
    flags = {
        "name": name, "algorithm": algorithm, "script": script, "source_dir": source_dir, "target": target,
        "max_runtime_seconds": max_runtime, "checkpoint": checkpoint, "experiment": experiment, "seed": seed,
        "cpus": cpus, "network_isolation": network_isolation,
    }  # fmt: skip
    args.update({k: v for k, v in flags.items() if v is not None})
    if channel:
        args["channels"] = {**args.get("channels", {}), **_pairs(channel, "--channel")}
    if hp:
        args["hyperparameters"] = {**args.get("hyperparameters", {}), **_pairs(hp, "--hp")}
    apply_inputs(args, feature, recipe)
    if metric:
        args["metric_definitions"] = [{"Name": k, "Regex": v} for k, v in _pairs(metric, "--metric").items()]
    if rule:
        args["rules"] = [*args.get("rules", []), *rule]
    args.setdefault("channels", {})
    ws = workspace()
    job = ws.training.create(**args)
    if wait:
        job = _wait(job.name, None)
    emit(job.to_dict(), as_json, lambda: typer.echo(f"training job {job.name}: {job.status}"))


@app.command("ls")
def list_jobs(
    status: list[str] = typer.Option(None, help="Only jobs in this status (repeatable)."),
    name: str = typer.Option(None, "--name-contains", help="Only jobs whose name contains this."),
    limit: int = typer.Option(50, help="At most this many (newest first); 0 for all."),
    as_json: bool = JsonOption,
) -> None:
    """List training jobs, newest first."""
    ws = workspace()
    jobs = ws.training.list(status=status or None, name_contains=name, limit=limit or None)
    data = [j.to_dict() for j in jobs]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} training job(s)", ["name", "algorithm", "status", "secondary", "created", "ended"],
        ((d["name"], d["config"].get("algorithm") or d["config"].get("script"), d["status"], d["secondary_status"],
          short_time(d["created_at"]), short_time(d["ended_at"])) for d in data),
    ))  # fmt: skip


@app.command("show")
def show(name: str = ref_argument("JOB"), as_json: bool = JsonOption) -> None:
    """Everything about one training job (DescribeTrainingJob)."""
    data = workspace().training.describe(name)

    def render() -> None:
        simple = [(k, v) for k, v in data.items() if not isinstance(v, (dict, list)) or k in ("HyperParameters", "ModelArtifacts")]
        print_table(f"training job {name}", ["field", "value"], simple)
        print_table("final metrics", ["metric", "value"], ((m["MetricName"], f"{m['Value']:.6g}") for m in data["FinalMetricDataList"]))
        if data["DebugRuleEvaluationStatuses"]:
            print_table("debugger rules", ["rule", "status", "details"], (
                (r["RuleConfigurationName"], r["RuleEvaluationStatus"], r["StatusDetails"]) for r in data["DebugRuleEvaluationStatuses"]
            ))  # fmt: skip

    emit(data, as_json, render)


@app.command("logs")
def logs(name: str = ref_argument("JOB"), follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends.")) -> None:
    """Print (or follow) a training job's log."""
    for line in workspace().training.logs(name, follow=follow):
        typer.echo(line)


@app.command("metrics")
def metrics(name: str = ref_argument("JOB"), key: str = typer.Option(None, help="Only this metric."), as_json: bool = JsonOption) -> None:
    """A training job's metric series."""
    data = [m.to_dict() for m in workspace().training.metrics(name, key)]
    emit(data, as_json, lambda: print_table(f"metrics of {name}", ["key", "step", "value"], ((d["key"], d["step"], d["value"]) for d in data)))


@app.command("stop")
def stop(name: str = ref_argument("JOB"), wait: bool = typer.Option(False, help="Wait until it has stopped.")) -> None:
    """Stop a training job: SIGTERM, then SIGKILL after the grace period."""
    job = workspace().training.stop(name, wait=wait)
    typer.echo(f"training job {name}: {job.status}")


def _wait(name: str, timeout: float | None) -> Any:
    """Wait with a progress bar (iterations when the algorithm reports them, else a spinner)."""
    import time

    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from forgeml.cli._common import console

    ws = workspace()
    deadline = None if timeout is None else time.monotonic() + timeout
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console(stderr=True), transient=True) as bar:  # fmt: skip
        task = bar.add_task(name, total=None)
        while True:
            job = ws.training.get(name)
            progress = ws.training.record(name).data.get("progress") or {}
            bar.update(task, description=f"{name} {job.status}/{job.secondary_status or ''}",
                       completed=progress.get("iteration", 0), total=progress.get("total"))  # fmt: skip
            if job.is_terminal:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"training job {name!r} still {job.status} after {timeout:g}s")
            time.sleep(0.3)
    return ws.training.wait(name)


@app.command("wait")
def wait(name: str = ref_argument("JOB"), timeout: float = typer.Option(None, help="Give up after this many seconds.")) -> None:
    """Wait for a training job, showing progress; exit non-zero unless it completed."""
    job = _wait(name, timeout)
    typer.echo(f"training job {name}: {job.status}")


@app.command("algorithms")
def algorithms(as_json: bool = JsonOption) -> None:
    """The built-in algorithms with their hyperparameters and defaults."""
    from forgeml.training import TrainingService

    data = TrainingService.algorithms()

    def render() -> None:
        for algo in data:
            print_table(f"{algo['name']}: {algo['description']}", ["hyperparameter", "default", "allowed", "meaning"],
                        ((p["name"], p["default"], p["allowed"], p["help"]) for p in algo["hyperparameters"]))  # fmt: skip

    emit(data, as_json, render)


@app.command("model")
def model(name: str = ref_argument("JOB"), as_json: bool = JsonOption) -> None:
    """Print the local folder and the artifact digest of a training job's model."""
    ws = workspace()
    data = {"model_dir": str(ws.training.model_dir(name)), "artifact": ws.training.model_artifact(name)}
    emit(data, as_json, lambda: typer.echo(f"model of training job {name}\n  folder:   {data['model_dir']}\n  artifact: {data['artifact']}"))
