"""``forgeml tune``: hyperparameter tuning jobs (create from a spec file or flags, optimize a Python function in process, ls, show, stop, wait)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_json, print_table, short_time, workspace
from forgeml.cli._refs import ref_argument, ref_option
from forgeml.cli._training import FeatureOption, RecipeOption, apply_inputs

app = typer.Typer(help="Hyperparameter tuning jobs: Bayesian, Random, Grid, Hyperband on Optuna.", no_args_is_help=True)


def _value(text: str) -> Any:
    """A flag value as JSON when it reads as JSON (numbers, booleans), else the text."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    from forgeml.errors import ValidationError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"{what} {item!r}: expected NAME=VALUE")
        out[key] = value
    return out


def parse_range_flag(text: str) -> tuple[str, dict[str, Any]]:
    """``name=Integer:2:8[:Scaling]``, ``name=Continuous:0.01:0.3:Logarithmic`` or
    ``name=Categorical:a,b,c`` as a range spec.

    Raises:
        ValidationError: naming the flag.
    """
    from forgeml.errors import ValidationError

    name, sep, rest = text.partition("=")
    parts = rest.split(":")
    if not sep or not name or not parts[0]:
        raise ValidationError(f"--range {text!r}: expected NAME=TYPE:MIN:MAX[:SCALING] or NAME=Categorical:V1,V2")
    kind = parts[0].capitalize()
    if kind == "Categorical":
        if len(parts) != 2 or not parts[1]:
            raise ValidationError(f"--range {text!r}: expected NAME=Categorical:V1,V2,...")
        return name, {"type": kind, "values": [_value(v) for v in parts[1].split(",")]}
    if len(parts) not in (3, 4):
        raise ValidationError(f"--range {text!r}: expected NAME={kind}:MIN:MAX[:SCALING]")
    spec: dict[str, Any] = {"type": kind, "min": _value(parts[1]), "max": _value(parts[2])}
    if len(parts) == 4:
        spec["scaling"] = parts[3]
    return name, spec


def _load_spec(path: Path) -> dict[str, Any]:
    import json

    from forgeml.errors import ValidationError

    if not path.is_file():
        raise ValidationError(f"spec file {path} does not exist")
    import yaml

    text = path.read_text()
    is_yaml = path.suffix in (".yaml", ".yml")
    try:
        data = yaml.safe_load(text) if is_yaml else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValidationError(f"spec file {path} is not valid {'YAML' if is_yaml else 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"spec file {path} must hold a mapping")
    return data


@app.command("create")
def create(
    spec_file: Path = typer.Argument(None, help="Tuning spec as JSON or YAML (flags override its fields)."),
    name: str = typer.Option(None, "--name", help="Tuning job name (at most 32 characters)."),
    strategy: str = typer.Option(None, help="Bayesian, Random, Grid or Hyperband."),
    objective: str = typer.Option(None, help="Objective metric, e.g. validation:auc."),
    objective_type: str = typer.Option(None, "--objective-type", help="Maximize or Minimize."),
    ranges: list[str] = typer.Option(None, "--range", help="NAME=Integer:2:8, NAME=Continuous:0.01:0.3:Logarithmic, NAME=Categorical:a,b (repeatable)."),
    static: list[str] = typer.Option(None, "--static", help="Fixed hyperparameter NAME=VALUE (repeatable)."),
    algorithm: str = typer.Option(None, help="Built-in algorithm of the training jobs."),
    channels: list[str] = typer.Option(None, "--channel", help="Training channel NAME=dataset/NAME[:V] (repeatable)."),
    target: str = typer.Option(None, help="Label column."),
    feature: list[str] = FeatureOption,
    recipe: str = RecipeOption,
    max_jobs: int = typer.Option(None, help="Most training jobs in total."),
    max_parallel_jobs: int = typer.Option(None, help="Most training jobs at once."),
    early_stopping: str = typer.Option(None, help="Off or Auto (SageMaker's median rule)."),
    parents: list[str] = ref_option("JOB", "--warm-start", help="Parent tuning job (repeatable, at most 5)."),
    warm_start_type: str = typer.Option(None, help="IdenticalDataAndAlgorithm or TransferLearning."),
    seed: int = typer.Option(None, "--seed", help="Random seed of the sampler."),
    wait: bool = typer.Option(False, "--wait", help="Wait for it to end, showing progress."),
    as_json: bool = JsonOption,
) -> None:
    """Create a tuning job from a spec file and/or flags."""
    spec: dict[str, Any] = _load_spec(spec_file) if spec_file else {}
    if strategy:
        spec["strategy"] = strategy
    if objective or objective_type:
        current = spec.get("objective") or {}
        current = {"metric": current} if isinstance(current, str) else dict(current)
        spec["objective"] = {**current, **({"metric": objective} if objective else {}), **({"type": objective_type} if objective_type else {})}
    if ranges:
        spec["parameter_ranges"] = {**(spec.get("parameter_ranges") or {}), **dict(parse_range_flag(r) for r in ranges)}
    if static:
        spec["static_hyperparameters"] = {**(spec.get("static_hyperparameters") or {}), **{k: _value(v) for k, v in _pairs(static, "--static").items()}}
    training = dict(spec.get("training") or {})
    if algorithm:
        training["algorithm"] = algorithm
    if channels:
        training["channels"] = {**(training.get("channels") or {}), **_pairs(channels, "--channel")}
    if target:
        training["target"] = target
    apply_inputs(training, feature, recipe)
    if training:
        spec["training"] = training
    for key, value in (("max_jobs", max_jobs), ("max_parallel_jobs", max_parallel_jobs), ("early_stopping", early_stopping), ("random_seed", seed)):
        if value is not None:
            spec[key] = value
    if parents:
        spec["warm_start"] = {"parents": list(parents), "type": warm_start_type or "IdenticalDataAndAlgorithm"}
    ws = workspace()
    job = ws.tuning.create(name, spec)
    if wait:
        _wait(job.name, None, as_json)
        return
    emit(job.to_dict(), as_json, lambda: typer.echo(f"tuning job {job.name}: {job.status}"))


@app.command("optimize")
def optimize(
    spec_file: Path = typer.Argument(..., help="Tuning spec as JSON or YAML: objective, parameter_ranges, strategy, limits (no training)."),
    fn: str = typer.Option(..., "--fn", help="The Python objective to tune, as package.module:function (taking a forgeml.tuning.Trial)."),
    name: str = typer.Option(None, "--name", help="Tuning job name (at most 32 characters)."),
    max_jobs: int = typer.Option(None, help="Most trials in total."),
    max_parallel_jobs: int = typer.Option(None, help="Most trials at once (threads of this process)."),
    seed: int = typer.Option(None, "--seed", help="Random seed of the sampler."),
    as_json: bool = JsonOption,
) -> None:
    """Tune a Python function in this process (trials in threads, each recorded as a run); blocks until done."""
    import sys

    from forgeml.core.imports import import_object
    from forgeml.errors import ValidationError

    spec = _load_spec(spec_file)
    for key, value in (("max_jobs", max_jobs), ("max_parallel_jobs", max_parallel_jobs), ("random_seed", seed)):
        if value is not None:
            spec[key] = value
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # a module beside the spec, as `python -m` would find it
    target = import_object(fn, "--fn")
    if not callable(target):
        raise ValidationError(f"--fn {fn!r} is not callable")

    def show_trial(trial: dict[str, Any]) -> None:
        if not as_json:
            value = "" if trial["objective"] is None else f" {trial['objective']:.6g}"
            typer.echo(f"trial {trial['number']}: {trial['status']}{value}  {_params(trial)}", err=True)

    data = workspace().tuning.optimize(target, name, spec, progress=show_trial, raise_on_failure=False)
    emit(data, as_json, lambda: _render(data))
    if data["status"] != "Completed":
        raise typer.Exit(code=10)


def _trial_rows(trials: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for t in trials:
        params = _params(t)
        objective = "" if t.get("objective") is None else f"{t['objective']:.6g}"
        status = t["status"] + (" (early stop)" if t.get("early_stopped") else "")
        rows.append([t.get("number", ""), t.get("training_job") or t.get("run", ""), status, objective, params, t.get("source", "new")])
    return rows


def _params(trial: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in trial["params"].items())


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@app.command("ls")
def list_tuning_jobs(limit: int = typer.Option(50, help="At most this many (newest first)."), as_json: bool = JsonOption) -> None:
    """List tuning jobs, newest first."""
    data = workspace().tuning.list(limit=limit or None)
    emit(data, as_json, lambda: print_table(
        f"{len(data)} tuning job(s)", ["name", "status", "strategy", "objective", "completed", "best job", "best", "created"],
        ((d["name"], d["status"], d["strategy"], f"{d['objective']['type']} {d['objective']['metric']}",
          d["counters"].get("training_jobs", {}).get("Completed", 0), d["best_training_job"],
          "" if d["best_objective"] is None else f"{d['best_objective']:.6g}", short_time(d["created_at"])) for d in data),
    ))  # fmt: skip


def _render(data: dict[str, Any]) -> None:
    obj = data["objective"]
    typer.echo(f"tuning job {data['name']}: {data['status']}  ({data['strategy']}, {obj['type']} {obj['metric']})")
    if data.get("failure_reason"):
        typer.echo(f"failure: {data['failure_reason']}")
    if data.get("completion_reason"):
        typer.echo(f"completed early: {data['completion_reason']}")
    print_table("trials", ["#", "training job / run", "status", "objective", "hyperparameters", "source"], _trial_rows(data["trials"]))
    best = data.get("best")
    if best and best.get("training_job"):
        typer.echo(f"best training job: {best['training_job']}  {obj['metric']} = {best['objective']:.6g}")
    elif best:
        typer.echo(f"best trial: {best['number']} (run {best['run']}, {_params(best)})  {obj['metric']} = {best['objective']:.6g}")


@app.command("show")
def show(name: str = ref_argument("JOB"), as_json: bool = JsonOption) -> None:
    """A tuning job: its trials table and best training job."""
    data = workspace().tuning.describe(name)
    emit(data, as_json, lambda: _render(data))


@app.command("stop")
def stop(name: str = ref_argument("JOB"), wait: bool = typer.Option(False, help="Wait until it has stopped.")) -> None:
    """Stop a tuning job and the training jobs it runs."""
    job = workspace().tuning.stop(name, wait=wait)
    typer.echo(f"tuning job {name}: {job.status}")


def _wait(name: str, timeout: float | None, as_json: bool) -> None:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from forgeml.cli._common import console

    ws = workspace()
    data = ws.tuning.describe(name)
    total = data["spec"].get("max_jobs") or 1
    deadline = None if timeout is None else time.monotonic() + timeout
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console(stderr=True), transient=True) as bar:  # fmt: skip
        task = bar.add_task(f"tuning {name}", total=total)
        while True:
            job = ws.jobs.get(name)
            done = sum(1 for t in ws.tuning.trials(name) if t["status"] in ("Completed", "Failed", "Stopped"))
            bar.update(task, completed=min(done, total))
            if job.is_terminal:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"tuning job {name!r} still {job.status} after {timeout:g}s")
            time.sleep(0.3)
    data = ws.tuning.wait(name, raise_on_failure=False)
    if as_json:
        print_json(data)
    else:
        _render(data)
    if data["status"] != "Completed":
        raise typer.Exit(code=10)


@app.command("wait")
def wait_cmd(
    name: str = ref_argument("JOB"),
    timeout: float = typer.Option(None, help="Give up after this many seconds."),
    as_json: bool = JsonOption,
) -> None:
    """Wait for a tuning job to end (progress bar), then show it; exit non-zero unless it completed."""
    _wait(name, timeout, as_json)
