"""``forgeml evaluate``: evaluate model packages, gate challengers, cross-validate, model cards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, console, emit, print_table, short_time, workspace
from forgeml.cli._refs import HtmlOption, OpenOption, export_report, ref_argument, ref_option

app = typer.Typer(help="Model evaluation: metrics, reports, champion/challenger gates, model cards.", no_args_is_help=True)


def _summary(rec: Any) -> dict[str, Any]:
    return {"ref": rec.ref, "problem_type": rec.data.get("problem_type"), "rows": rec.data.get("rows"),
            "metrics": rec.data.get("metrics", {}), "created_at": rec.to_dict()["created_at"], "spec": rec.spec}  # fmt: skip


def _write(path: Path | None, text: str) -> None:
    if path is not None:
        path.write_text(text)
        typer.echo(f"wrote {path}", err=True)


@app.command("run")
def run(
    model: str = ref_argument("PACKAGE"),
    data: str = ref_option("DATA", "--data", "-d", default=...),
    target: str = typer.Option(None, help="Label column (default: the package's target)."),
    name: str = typer.Option(None, help="Evaluation name (default: the dataset's name)."),
    threshold: float = typer.Option(0.5, help="Binary decision threshold."),
    positive_label: str = typer.Option(None, help="Binary positive class (default: the package's second class)."),
    cost_fp: float = typer.Option(None, help="Cost of a false positive: also pick the cheapest threshold."),
    cost_fn: float = typer.Option(None, help="Cost of a false negative."),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    as_json: bool = JsonOption,
) -> None:
    """Evaluate a model (registered or a package folder) on labelled data and store the report."""
    cost = None
    if cost_fp is not None or cost_fn is not None:
        cost = {"fp": 1.0 if cost_fp is None else cost_fp, "fn": 1.0 if cost_fn is None else cost_fn}
    positive: Any = positive_label
    if positive_label is not None and positive_label.lstrip("-").isdigit():
        positive = int(positive_label)
    ws = workspace()
    with console(stderr=True).status(f"evaluating {model} on {data}"):
        rec = ws.evaluation.evaluate(model, data, target=target, name=name, threshold=threshold, positive_label=positive, cost=cost)
    export_report(rec, html, open_)
    out = _summary(rec)
    emit(out, as_json, lambda: print_table(f"{rec.ref} ({out['problem_type']}, {out['rows']} rows)", ["metric", "value"],
                                           ((k, f"{v:.4g}") for k, v in out["metrics"].items())))  # fmt: skip


@app.command("ls")
def list_evaluations(name: str = ref_option("EVALUATION", "--name", help="Only versions of this evaluation."), as_json: bool = JsonOption) -> None:
    """List evaluations, newest first."""
    data = [_summary(r) for r in workspace().evaluation.list(name)]

    def headline(m: dict[str, float]) -> str:
        keys = [k for k in ("auc", "accuracy", "f1", "weighted_f1", "r2", "rmse") if k in m][:3]
        return ", ".join(f"{k} {m[k]:.3g}" for k in keys)

    emit(data, as_json, lambda: print_table(f"{len(data)} evaluation(s)", ["ref", "type", "rows", "metrics", "created"],
         ((d["ref"], d["problem_type"], d["rows"], headline(d["metrics"]), short_time(d["created_at"])) for d in data)))  # fmt: skip


@app.command("show")
def show(
    ref: str = ref_argument("EVALUATION"), html: Path = HtmlOption, open_: bool = OpenOption, as_json: bool = JsonOption
) -> None:
    """The full stored report of one evaluation."""
    ws = workspace()
    rec = ws.evaluation.get(ref)
    report = ws.evaluation.report(rec)
    export_report(rec, html, open_)
    emit(report, as_json, lambda: print_table(f"{rec.ref}", ["metric", "value"], ((k, f"{v:.4g}") for k, v in rec.data["metrics"].items())))


@app.command("report")
def report(
    ref: str = ref_argument("EVALUATION"),
    out: Path = typer.Option(..., "--out", "-o", help="File to write."),
    fmt: str = typer.Option("html", "--format", help="html or json."),
) -> None:
    """Write an evaluation's HTML (self-contained, opens offline) or JSON report to a file."""
    import json

    from forgeml.errors import ValidationError

    ws = workspace()
    if fmt not in ("html", "json"):
        raise ValidationError(f"unknown format {fmt!r} (html or json)")
    _write(out, ws.evaluation.html(ref) if fmt == "html" else json.dumps(ws.evaluation.report(ref), indent=2))


@app.command("compare")
def compare(
    challenger: str = ref_argument("EVALUATION", help="The new model's evaluation."),
    champion: str = ref_argument("EVALUATION", None, help="The current model's evaluation (optional)."),
    rule: list[str] = typer.Option(..., "--rule", "-r", help="auc~0.01 (allowed regression), auc>=0.7, log_loss<=0.5; repeatable."),
    as_json: bool = JsonOption,
) -> None:
    """Gate a challenger: exit 0 when every rule passes, 3 when one fails."""
    res = workspace().evaluation.compare(challenger, champion, list(rule))
    emit(res, as_json, lambda: print_table(f"gate: {res['verdict']}", ["metric", "challenger", "champion", "result"],
         ((c["metric"], c.get("challenger"), c.get("champion", ""), "pass" if c["passed"] else c.get("reason")) for c in res["checks"])))  # fmt: skip
    if not res["passed"]:
        raise typer.Exit(3)


@app.command("cv")
def cv(
    model: str = ref_argument("PACKAGE", help="Its estimator is refitted per fold."),
    data: str = ref_option("DATA", "--data", "-d", default=..., help="Rows with the target column."),
    target: str = typer.Option(None, help="Label column."),
    folds: int = typer.Option(5, help="Number of folds."),
    seed: int = typer.Option(0, help="Shuffle seed."),
    as_json: bool = JsonOption,
) -> None:
    """k-fold cross-validation of a package's estimator."""
    with console(stderr=True).status(f"{folds}-fold cross-validation"):
        res = workspace().evaluation.cross_validate(model, data, target=target, folds=folds, seed=seed)
    emit(res, as_json, lambda: print_table(f"{folds}-fold cross-validation", ["metric", "mean", "std"],
         ((k, f"{res['mean'][k]:.4g}", f"{res['std'][k]:.3g}") for k in res["mean"])))  # fmt: skip


@app.command("card")
def card(
    model: str = ref_argument("PACKAGE"),
    evaluation: str = ref_option("EVALUATION", "--evaluation", help="Include this evaluation."),
    bias: str = ref_option("BIAS_REPORT", "--bias", help="Include this bias report."),
    explanation: str = ref_option("EXPLANATION", "--explanation", help="Include this explanation."),
    intended_use: str = typer.Option(None, help="Intended use, in words."),
    limitations: str = typer.Option(None, help="Known limitations, in words."),
    name: str = typer.Option(None, help="Card name."),
    out: Path = typer.Option(None, "--out", "-o", help="Also write the card to this file."),
    fmt: str = typer.Option("markdown", "--format", help="markdown, html or json (for --out and the screen)."),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    as_json: bool = JsonOption,
) -> None:
    """Generate a model card from what the platform knows (stored as kind model-card)."""
    ws = workspace()
    rec = ws.evaluation.model_card(model, name=name, evaluation=evaluation, bias=bias, explanation=explanation,
                                   intended_use=intended_use, limitations=limitations)  # fmt: skip
    export_report(rec, html, open_)
    text = ws.evaluation.card_document(rec, "json" if as_json else fmt)
    _write(out, text)
    typer.echo(text)
