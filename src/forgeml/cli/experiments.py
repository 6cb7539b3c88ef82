"""``forgeml experiments``: experiments, their runs, search by filter, and side-by-side comparison."""

from __future__ import annotations

from typing import Any

import typer

from forgeml.cli._common import JsonOption, emit, print_json, print_table, short_time, workspace
from forgeml.cli._refs import ref_argument, ref_option

app = typer.Typer(help="Experiments and runs: params, metric series, search and compare.", no_args_is_help=True)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.5g}" if isinstance(value, float) else str(value)


def _param(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return text
    return text if number.is_integer() or len(text) <= 8 else f"{number:.5g}"


def _runs_table(title: str, runs: list[dict[str, Any]]) -> None:
    metric_keys = sorted({k for r in runs for k in r["metrics"]})  # the table keeps those that fit; --wide shows all
    param_keys = sorted({k for r in runs for k in r["params"]})
    columns = ["run", "status", *metric_keys, *(f"param {k}" for k in param_keys), "created"]
    rows = [
        [f"{r['experiment']}/{r['name']}", r["status"], *(_fmt(r["metrics"].get(k)) for k in metric_keys),
         *(_param(r["params"].get(k, "")) for k in param_keys), short_time(r["created_at"])]
        for r in runs
    ]  # fmt: skip
    print_table(title, columns, rows)


@app.command("ls")
def list_experiments(as_json: bool = JsonOption) -> None:
    """List experiments with their run counts."""
    data = [e.to_dict() for e in workspace().experiments.list_experiments()]
    emit(data, as_json, lambda: print_table(
        f"{len(data)} experiment(s)", ["name", "runs", "description", "created"],
        ((d["name"], d["run_count"], d["description"], short_time(d["created_at"])) for d in data),
    ))  # fmt: skip


@app.command("runs")
def runs(
    experiment: str = ref_argument("EXPERIMENT"),
    limit: int = typer.Option(100, help="At most this many (newest first); 0 for all."),
    as_json: bool = JsonOption,
) -> None:
    """The runs of one experiment, newest first."""
    data = [r.to_dict() for r in workspace().experiments.list_runs(experiment, limit=limit or None)]
    emit(data, as_json, lambda: _runs_table(f"{len(data)} run(s) of {experiment}", data))


@app.command("search")
def search(
    filter_: str = typer.Option(None, "--filter", "-f", help="e.g. \"metrics.validation:auc > 0.8 and params.max_depth = 3\"."),
    experiments: list[str] = ref_option("EXPERIMENT", "--experiment", "-e", help="Only this experiment (repeatable)."),
    order_by: list[str] = typer.Option(None, "--order-by", help="e.g. \"metrics.validation:auc desc\" (repeatable)."),
    max_results: int = typer.Option(100, help="At most this many; 0 for all."),
    csv: bool = typer.Option(False, "--csv", help="Print the runs as CSV (one column per param, metric, tag)."),
    as_json: bool = JsonOption,
) -> None:
    """Search runs across experiments with a filter expression."""
    svc = workspace().experiments
    found = svc.search_runs(filter_, experiments=experiments or None, order_by=order_by or None, max_results=max_results or None)
    if csv:
        from forgeml.experiments import to_frame

        typer.echo(to_frame(found).to_csv(index=False), nl=False)
        return
    data = [r.to_dict() for r in found]
    emit(data, as_json, lambda: _runs_table(f"{len(data)} run(s) match", data))


@app.command("show")
def show(run: str = ref_argument("RUN"), as_json: bool = JsonOption) -> None:
    """One run: params, latest metrics, tags and artifacts."""
    data = workspace().experiments.get_run(run).to_dict()

    def render() -> None:
        typer.echo(f"run {data['experiment']}/{data['name']}: {data['status']} ({data['kind']}{', ' + data['source'] if data['source'] else ''})")
        rows = [("param", k, v) for k, v in data["params"].items()]
        rows += [("metric", k, _fmt(v)) for k, v in data["metrics"].items()]
        rows += [("tag", k, v) for k, v in data["tags"].items()]
        rows += [("artifact", k, v.get("digest") or v.get("ref")) for k, v in data["artifacts"].items()]
        print_table(None, ["", "name", "value"], rows)

    emit(data, as_json, render)


@app.command("compare")
def compare(runs: list[str] = ref_argument("RUN", help="Two or more runs."), as_json: bool = JsonOption) -> None:
    """Params, latest metrics and tags of runs side by side; differing params are marked."""
    data = workspace().experiments.compare(runs)
    if as_json:
        print_json(data)
        return
    names = data["runs"]
    rows: list[list[Any]] = [["status", *(data["status"][n] for n in names)]]
    for part, label in (("params", "param"), ("metrics", "metric"), ("tags", "tag")):
        for key, values in data[part].items():
            mark = " *" if part == "params" and key in data["differing_params"] else ""
            rows.append([f"{label} {key}{mark}", *(_fmt(values[n]) for n in names)])
    print_table("compare (* = params that differ)", ["", *names], rows)
