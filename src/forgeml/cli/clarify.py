"""``forgeml clarify``: bias reports and SHAP explanations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, console, emit, print_table, short_time, workspace
from forgeml.cli._refs import HtmlOption, OpenOption, export_report, ref_argument, ref_option

app = typer.Typer(help="Bias metrics (pre- and post-training) and explanations (SHAP, partial dependence).", no_args_is_help=True)


def _names(text: str | None) -> Any:
    if text is None or text.strip().lower() == "all":
        return "all"
    return [t.strip() for t in text.split(",") if t.strip()]


def _columns(text: str | None, option: str) -> list[str] | None:
    """A comma-separated column list given to ``option`` (None when not given)."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise typer.BadParameter("give at least one column name, e.g. income,debt", param_hint=option)
    return names


def _print_bias(analysis: dict[str, Any]) -> None:
    for stage in ("pre_training_bias_metrics", "post_training_bias_metrics"):
        block = analysis.get(stage)
        if not block:
            continue
        for facet, entries in block["facets"].items():
            for entry in entries:
                print_table(f"{stage.replace('_', ' ')}: {facet} = {entry['value_or_threshold']}", ["metric", "value", "note"],
                            ((m["name"], m["value"] if m["value"] is not None else "undefined", m.get("error", "")) for m in entry["metrics"]))  # fmt: skip


@app.command("bias")
def bias(
    data: str = ref_option("DATA", "--data", "-d", default=...),
    label: str = typer.Option(..., help="Observed label column."),
    facet: list[str] = typer.Option(..., "--facet", "-f", help="black=1, sex=f,x, age>40, or a column (each value vs the rest); repeatable."),
    label_values: str = typer.Option("1", help="Positive label values (comma-separated) or '> 0.5' for a numeric label."),
    model: str = ref_option("PACKAGE", "--model", help="Its predictions give post-training metrics."),
    predicted_label: str = typer.Option(None, help="Column of predicted labels (instead of a model)."),
    probability_threshold: float = typer.Option(None, help="Binary model: predicted positive when its probability > this."),
    group_variable: str = typer.Option(None, help="Group column for CDDL and CDDPL."),
    methods: str = typer.Option("all", help="Pre-training metrics: all or e.g. CI,DPL,KL."),
    post_methods: str = typer.Option("all", help="Post-training metrics: all or e.g. DPPL,DI,FT."),
    ft_features: str = typer.Option(None, help="Numeric columns for FT's kNN, e.g. income,debt (default: the model's numeric inputs but label, facets and group)."),
    dropna: bool = typer.Option(False, help="Drop rows with missing label/facet/group values instead of failing."),
    name: str = typer.Option(None, help="Report name (default: the dataset's name)."),
    out: Path = typer.Option(None, "--out", "-o", help="Also write analysis.json here."),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    as_json: bool = JsonOption,
) -> None:
    """Compute bias metrics and store the report (analysis.json layout)."""
    import json

    values: Any = label_values.strip()
    if not values.startswith(">"):
        values = [v.strip() for v in values.split(",") if v.strip()]
    ws = workspace()
    with console(stderr=True).status("computing bias metrics"):
        rec = ws.clarify.bias(data, label=label, facets=list(facet), label_values_or_threshold=values, model=model,
                              predicted_label=predicted_label, probability_threshold=probability_threshold,
                              group_variable=group_variable, methods=_names(methods), post_training_methods=_names(post_methods),
                              ft_features=_columns(ft_features, "--ft-features"), dropna=dropna, name=name)  # fmt: skip
    analysis = ws.clarify.report(rec)
    if out is not None:
        out.write_text(json.dumps(analysis, indent=2))
    export_report(rec, html, open_)
    emit({"ref": rec.ref, **analysis}, as_json, lambda: (_print_bias(analysis), typer.echo(f"stored {rec.ref}", err=True)))


@app.command("explain")
def explain(
    model: str = ref_argument("PACKAGE"),
    data: str = ref_option("DATA", "--data", "-d", default=..., help="Rows to explain."),
    rows: int = typer.Option(100, help="Explain at most this many rows (random sample)."),
    method: str = typer.Option("auto", help="auto, tree, kernel or permutation."),
    num_clusters: int = typer.Option(10, help="k-means baseline centres (kernel, permutation)."),
    num_samples: int = typer.Option(None, help="Kernel SHAP coalitions per row."),
    agg_method: str = typer.Option("mean_abs", help="mean_abs, median or mean_sq."),
    use_logit: bool = typer.Option(False, help="Explain log-odds instead of probabilities."),
    top_k: int = typer.Option(5, help="Partial dependence for the k most important features (0: none)."),
    seed: int = typer.Option(0, help="Sampling seed."),
    name: str = typer.Option(None, help="Explanation name."),
    out: Path = typer.Option(None, "--out", "-o", help="Also write the local SHAP values (CSV) here."),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    as_json: bool = JsonOption,
) -> None:
    """SHAP values of a model (registered or a package folder), stored as an explanation resource."""
    ws = workspace()
    with console(stderr=True).status(f"explaining {rows} row(s) with SHAP"):
        rec = ws.clarify.explain(model, data, name=name, method=method, max_rows=rows, num_clusters=num_clusters,
                                 num_samples=num_samples, agg_method=agg_method, use_logit=use_logit,
                                 top_k_features=top_k, seed=seed)  # fmt: skip
    if out is not None:
        ws.clarify.local_values(rec).to_csv(out, index=False)
    export_report(rec, html, open_)
    doc = ws.clarify.report(rec, kind="explanation")
    values = rec.data["global_shap_values"]
    emit({"ref": rec.ref, **doc}, as_json, lambda: print_table(
        f"{rec.ref}: global SHAP ({rec.data['method']}, {agg_method}, expected value {rec.data['expected_value']:.4g})",
        ["feature", "value"], ((k, f"{v:.4g}") for k, v in sorted(values.items(), key=lambda kv: -abs(kv[1])))))  # fmt: skip


@app.command("analyze")
def analyze(
    config: Path = typer.Option(..., "--config", "-c", help="A SageMaker Clarify analysis_config.json."),
    data: str = ref_option("DATA", "--data", "-d", default=...),
    model: str = ref_option("PACKAGE", "--model", help="For post-training bias, SHAP and PDP."),
    name: str = typer.Option(None, help="Name for the stored bias report and explanation."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the combined analysis.json here."),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    as_json: bool = JsonOption,
) -> None:
    """Run a Clarify analysis config locally; stores a bias report and/or an explanation."""
    import json

    from forgeml.errors import ValidationError

    try:
        cfg = json.loads(config.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"cannot read {config}: {exc}") from None
    with console(stderr=True).status("running the analysis"):
        result = workspace().clarify.analyze(data, cfg, model=model, name=name)
    if out is not None:
        out.write_text(json.dumps({k: v for k, v in result.items() if k != "records"}, indent=2))
    for ref in result["records"]:
        path = html.with_name(f"{html.stem}-{ref.split('/')[0]}{html.suffix}") if html and len(result["records"]) > 1 else html
        export_report(ref, path, open_)
    emit(result, as_json, lambda: (_print_bias(result), typer.echo("stored " + ", ".join(result["records"]), err=True)))


@app.command("ls")
def list_reports(kind: str = typer.Option("bias-report", help="bias-report or explanation."), as_json: bool = JsonOption) -> None:
    """List bias reports (or explanations), newest first."""
    recs = workspace().clarify.list(kind)
    data = [{"ref": r.ref, "rows": r.data.get("rows", r.data.get("rows_explained")), "created_at": r.to_dict()["created_at"], "spec": r.spec} for r in recs]
    emit(data, as_json, lambda: print_table(f"{len(data)} {kind}(s)", ["ref", "rows", "created"],
                                            ((d["ref"], d["rows"], short_time(d["created_at"])) for d in data)))  # fmt: skip


@app.command("show")
def show(
    ref: str = ref_argument("CLARIFY"),
    kind: str = typer.Option(None, help="bias-report (default) or explanation, when REF does not start with its kind."),
    html: Path = HtmlOption,
    open_: bool = OpenOption,
    as_json: bool = JsonOption,
) -> None:
    """The stored document of a bias report (analysis.json) or explanation."""
    from forgeml.core.refs import is_reference

    kind = ref.split("/", 1)[0] if is_reference(ref) else (kind or "bias-report")
    ws = workspace()
    rec = ws.clarify.get(ref, kind)
    doc = ws.clarify.report(rec, kind=kind)
    export_report(rec, html, open_)
    if kind == "bias-report":
        emit(doc, as_json, lambda: _print_bias(doc))
    else:
        values = rec.data.get("global_shap_values") or {}
        emit(doc, as_json, lambda: print_table(f"{rec.ref}: global SHAP ({rec.data.get('method')})", ["feature", "value"],
                                               ((k, f"{v:.4g}") for k, v in sorted(values.items(), key=lambda kv: -abs(kv[1])))))  # fmt: skip
