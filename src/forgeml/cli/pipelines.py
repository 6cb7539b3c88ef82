"""``forgeml pipelines``: define, run and inspect pipelines."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import (
    JsonOption,
    console,
    emit,
    print_json,
    print_table,
    short_time,
    workspace,
)

app = typer.Typer(help="Pipelines: versioned DAGs of steps, run durably.", no_args_is_help=True)


def _load_python(target: str) -> Any:
    """``file.py:attr`` or ``package.module:attr``: a Pipeline object (or a function returning one)."""
    import importlib
    import importlib.util

    from forgeml.errors import ValidationError

    where, sep, attr = target.rpartition(":")
    if not sep:
        raise ValidationError(f"--python {target!r}: write FILE.py:NAME or package.module:NAME")
    if where.endswith(".py"):
        spec = importlib.util.spec_from_file_location(Path(where).stem, where)
        if spec is None or spec.loader is None or not Path(where).is_file():
            raise ValidationError(f"--python {target!r}: {where} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    obj = getattr(module, attr)
    return obj() if callable(obj) and not hasattr(obj, "definition") else obj


def _execution_row(e: Any) -> tuple[Any, ...]:
    took = (e.ended_at or time.time()) - e.created_at
    return (e.id, f"{e.pipeline}:{e.version}", e.status, short_time(e.to_dict()["created_at"]), f"{took:.1f}s", e.failure_reason or "")


@app.command("create")
def create(
    file: Path = typer.Argument(None, help="Definition as YAML or JSON (the definition JSON's fields; Name optional)."),
    python: str = typer.Option(None, "--python", help="FILE.py:NAME or module:NAME of a Pipeline object instead of a file."),
    name: str = typer.Option(None, help="Pipeline name (default: the definition's Name)."),
    description: str = typer.Option(None, help="What the pipeline does."),
    as_json: bool = JsonOption,
) -> None:
    """Store a definition as the next version of its pipeline (checked first)."""
    from forgeml.errors import ValidationError

    if (file is None) == (python is None):
        raise ValidationError("give a definition FILE or --python FILE.py:NAME")
    source = _load_python(python) if python else file
    if file is not None and not file.is_file():
        raise ValidationError(f"definition file {file} does not exist")
    record = workspace().pipelines.create(source, name=name, description=description)
    emit(record.to_dict(), as_json, lambda: typer.echo(f"pipeline {record.name}:{record.version} ({record.data['steps']} steps)"))


@app.command("ls")
def list_pipelines(as_json: bool = JsonOption) -> None:
    """Every pipeline's latest version."""
    records = workspace().pipelines.list()
    emit([r.to_dict() for r in records], as_json, lambda: print_table(
        "pipelines", ["name", "version", "steps", "updated"],
        [(r.name, r.version, r.data.get("steps"), short_time(r.to_dict()["created_at"])) for r in records]))  # fmt: skip


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Pipeline (NAME or NAME:VERSION)."),
    execution: str = typer.Option(None, "--execution", "-e", help="Draw this execution's DAG with each step's status and duration."),
    as_json: bool = JsonOption,
) -> None:
    """A pipeline's definition, or one execution drawn as a DAG."""
    ws = workspace()
    if execution:
        described = ws.pipelines.describe(execution)
        record = ws.pipelines.get(name)
        if described["pipeline"] != record.name:
            from forgeml.errors import NotFoundError

            raise NotFoundError(f"execution {execution} belongs to pipeline {described['pipeline']!r}, not {record.name!r}")
        from forgeml.pipelines._draw import render

        emit(described, as_json, lambda: console().print(render(described)))
        return
    record = ws.pipelines.get(name)

    def human() -> None:
        from forgeml.pipelines import compile_definition

        graph = compile_definition(record.spec["definition"])
        typer.echo(f"pipeline {record.name}:{record.version}")
        params = [(p["Name"], p.get("Type", "String"), p.get("DefaultValue", "")) for p in graph.parameters.values()]
        if params:
            print_table("parameters", ["name", "type", "default"], params)
        print_table("steps", ["step", "type", "after"], [(n, graph.steps[n]["Type"], ", ".join(sorted(graph.deps[n]))) for n in graph.order])

    emit(record.to_dict(), as_json, human)


def _start(name: str, param: list[str], display_name: str | None, max_parallel: int | None) -> Any:
    ws = workspace()
    values = ws.pipelines.parse_parameters(name, param or [])
    return ws.pipelines.start(name, values, display_name=display_name, max_parallel=max_parallel)


ParamOption = typer.Option(None, "--param", "-p", help="NAME=VALUE, typed by the parameter (repeat).")


@app.command("start")
def start(name: str = typer.Argument(..., help="Pipeline (NAME or NAME:VERSION)."), param: list[str] = ParamOption,
          display_name: str = typer.Option(None, help="A label for the execution."),
          max_parallel: int = typer.Option(None, min=1, help="MaxParallelExecutionSteps for this execution."),
          as_json: bool = JsonOption) -> None:  # fmt: skip
    """Start an execution (``forgeml server`` drives it; see also ``run --wait``)."""
    ex = _start(name, param, display_name, max_parallel)
    emit(ex.to_dict(), as_json, lambda: typer.echo(f"execution {ex.id} of {ex.pipeline}:{ex.version}: {ex.status}"))


@app.command("run")
def run(name: str = typer.Argument(..., help="Pipeline (NAME or NAME:VERSION)."), param: list[str] = ParamOption,
        wait: bool = typer.Option(False, "--wait", help="Drive it here until it ends; exit 1 when it does not succeed."),
        timeout: float = typer.Option(None, min=0, help="With --wait: give up after this many seconds (exit 1)."),
        display_name: str = typer.Option(None, help="A label for the execution."),
        max_parallel: int = typer.Option(None, min=1, help="MaxParallelExecutionSteps for this execution."),
        as_json: bool = JsonOption) -> None:  # fmt: skip
    """Start an execution and, with ``--wait``, see it through: the CI gate."""
    import sys

    ex = _start(name, param, display_name, max_parallel)
    if not wait:
        emit(ex.to_dict(), as_json, lambda: typer.echo(f"execution {ex.id} of {ex.pipeline}:{ex.version}: {ex.status}"))
        return
    ws = workspace()
    try:
        ex = ws.pipelines.wait(ex.id, timeout=timeout)
    except TimeoutError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(1) from None
    described = ws.pipelines.describe(ex.id)
    if as_json:
        print_json(described)
    else:
        from forgeml.pipelines._draw import render

        console().print(render(described))
    if ex.status != "Succeeded":
        failed = [s for s in described["steps"] if s["status"] in ("Failed", "Stopped")]
        where = f"step {failed[0]['step']} ({failed[0]['type']}): {failed[0].get('failure_reason') or failed[0]['status']}" if failed else ex.failure_reason
        sys.stderr.write(f"pipeline {ex.pipeline} execution {ex.id} {ex.status.lower()}: {where}\n")
        raise typer.Exit(1)


@app.command("executions")
def executions(name: str = typer.Argument(None, help="Only this pipeline's."),
               status: list[str] = typer.Option(None, help="Only executions in this status (repeat)."),
               limit: int = typer.Option(50, min=1, max=10_000), as_json: bool = JsonOption) -> None:  # fmt: skip
    """Executions, newest first."""
    found = workspace().pipelines.executions(name, status=status or None, limit=limit)
    emit([e.to_dict() for e in found], as_json, lambda: print_table(
        "executions", ["id", "pipeline", "status", "started", "took", "failure"], [_execution_row(e) for e in found]))  # fmt: skip


@app.command("stop")
def stop(execution: str = typer.Argument(..., help="Execution id."), as_json: bool = JsonOption) -> None:
    """Ask an execution to stop (Stopping, then Stopped)."""
    ex = workspace().pipelines.stop(execution)
    emit(ex.to_dict(), as_json, lambda: typer.echo(f"execution {ex.id}: {ex.status}"))


@app.command("retry")
def retry(execution: str = typer.Argument(..., help="A Failed execution's id."), as_json: bool = JsonOption) -> None:
    """Run a failed execution again from its failed steps."""
    ex = workspace().pipelines.retry(execution)
    emit(ex.to_dict(), as_json, lambda: typer.echo(f"execution {ex.id}: {ex.status} (from its failed steps)"))


@app.command("callback")
def callback(token: str = typer.Argument(..., help="The token the callback step was sent with."),
             success: bool = typer.Option(True, "--success/--failure", help="Report success (default) or failure."),
             output: list[str] = typer.Option(None, "--output", "-o", help="NAME=VALUE output parameter (repeat)."),
             reason: str = typer.Option("reported failed", help="With --failure: why."),
             as_json: bool = JsonOption) -> None:  # fmt: skip
    """SendPipelineExecutionStepSuccess / ...Failure for a waiting callback step."""
    ws = workspace()
    if success:
        outputs = dict(o.partition("=")[::2] for o in output or [])
        row = ws.pipelines.send_step_success(token, outputs)
    else:
        row = ws.pipelines.send_step_failure(token, reason)
    emit(row.to_dict(), as_json, lambda: typer.echo(f"step {row.step} of execution {row.execution}: {row.status}"))


@app.command("driver")
def driver(interval: float = typer.Option(1.0, min=0.05, help="Seconds between passes.")) -> None:
    """Drive every active execution until interrupted (``forgeml server`` runs this too)."""
    from forgeml.pipelines._driver import Driver

    typer.echo(f"pipeline driver on {workspace().home}", err=True)
    Driver(workspace()).run(interval)
