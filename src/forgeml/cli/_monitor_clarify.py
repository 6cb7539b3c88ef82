"""``forgeml monitor bias-baseline|explainability-baseline|bias|explainability``: the Clarify
monitors (bias drift, feature attribution drift). Schedules: ``forgeml monitor create --type
ModelBias|ModelExplainability --baseline B --endpoint E``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from forgeml.cli._common import JsonOption, console, emit, print_table, workspace
from forgeml.cli._refs import HtmlOption, OpenOption, export_report, ref_argument, ref_option


def _config(ws: Any, path: Path | None, what: str) -> dict[str, Any] | None:
    from forgeml.errors import ValidationError
    from forgeml.monitoring._constraints import read_document

    if path is None:
        return None
    ws.access.check_source(path, what)
    doc = read_document(path)
    if not isinstance(doc, dict):
        raise ValidationError(f"{path}: the {what} must be an object")
    out: dict[str, Any] = doc
    return out


def _record(rec: Any) -> dict[str, Any]:
    return rec.to_dict() | {"ref": rec.ref}


def _print_bias(analysis: dict[str, Any]) -> None:
    rows = []
    for facet, values in (analysis.get("post_training_bias_metrics") or {}).get("facets", {}).items():
        for v in values:
            for m in v["metrics"]:
                ci, allowed = m.get("confidence_interval"), m.get("allowed_range")
                rows.append((f"{facet}={v['value_or_threshold']}", m["name"], m.get("value"),
                             f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else m.get("error", ""),
                             f"[{allowed[0]:.4g}, {allowed[1]:.4g}]" if allowed else ""))  # fmt: skip
    print_table("bias metrics", ["facet", "metric", "value", "confidence interval", "allowed range"], rows)


def _print_attributions(explanations: dict[str, Any], scores: dict[str, float] | None = None) -> None:
    for method, labels in explanations.items():
        for label, block in labels.items():
            title = f"{method} label {label}" + (f": NDCG {scores[label]:.4f}" if scores and label in scores else "")
            values = block["global_shap_values"]
            print_table(title, ["feature", "global SHAP"], sorted(values.items(), key=lambda kv: -kv[1]))


def _print_violations(rec: Any, doc: dict[str, Any]) -> None:
    typer.echo(f"{rec.ref}: {rec.status}: {rec.data['message']}")
    if doc["violations"]:
        print_table("violations", ["where", "metric", "check", "description"],
                    ((f"{v['facet']}={v['facet_value']}" if "facet" in v else v.get("label"), v["metric_name"], v["constraint_check_type"],
                      v["description"]) for v in doc["violations"]))  # fmt: skip


def register(app: typer.Typer, endpoint_opt: Any, start_opt: Any, end_opt: Any, variant_opt: Any, wait_opt: Any) -> None:
    """Add the commands to ``forgeml monitor``."""

    @app.command("bias-baseline")
    def bias_baseline(
        data: str = ref_argument("DATA", None, help="Labelled rows: the inputs and the label column (or give --endpoint)."),
        config: Path = typer.Option(..., "--config", "-c", help="Bias config (.json, .yaml): Clarify's analysis config and the monitor's settings."),
        model: str = ref_option("PACKAGE", "--model", "-m", help="The model whose predictions to measure (or config predicted_label)."),
        endpoint: str = endpoint_opt, start: str = start_opt, end: str = end_opt, variant: str = variant_opt,
        name: str = typer.Option(None, help="Baseline name (default: the dataset's, or ENDPOINT-bias)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Post-training bias metrics of labelled data (or of captured traffic with its ground truth): a ModelBias baseline."""
        ws = workspace()
        with console(stderr=True).status("bias baseline"):
            rec = ws.monitoring.bias_baseline(data, _config(ws, config, "bias config") or {}, model=model, endpoint=endpoint,
                                              start_time=start, end_time=end, variant=variant, name=name)  # fmt: skip
        analysis = ws.monitoring.constraints(rec)

        def render() -> None:
            typer.echo(f"stored {rec.ref}: {rec.data['item_count']} rows")
            _print_bias(analysis)

        emit(_record(rec) | {"analysis": analysis}, as_json, render)

    @app.command("explainability-baseline")
    def explainability_baseline(
        data: str = ref_argument("DATA", help="Rows of the model's inputs."),
        model: str = ref_option("PACKAGE", "--model", "-m", help="The model to explain."),
        config: Path = typer.Option(None, "--config", "-c", help="SHAP options and threshold (.json, .yaml)."),
        name: str = typer.Option(None, help="Baseline name (default: the model's or the dataset's)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Global SHAP values of a model on baseline data: a ModelExplainability monitor's baseline."""
        from forgeml.errors import ValidationError

        if model is None:
            raise ValidationError("give --model (the model the monitor explains)")
        ws = workspace()
        with console(stderr=True).status("SHAP baseline"):
            rec = ws.monitoring.explainability_baseline(data, model=model, config=_config(ws, config, "explainability config"), name=name)
        doc = ws.monitoring.constraints(rec)

        def render() -> None:
            typer.echo(f"stored {rec.ref}: {rec.data['rows_explained']} rows explained")
            _print_attributions(doc["explanations"])

        emit(_record(rec) | doc, as_json, render)

    def _run(monitoring_type: str, baseline: str, endpoint: str | None, start: str | None, end: str | None, variant: str | None,
             name: str | None, wait: bool, html: Path | None, open_: bool, as_json: bool) -> None:  # fmt: skip
        from forgeml.errors import ValidationError

        if endpoint is None:
            raise ValidationError("give --endpoint (the endpoint whose captured traffic to analyse)")
        ws = workspace()
        run = ws.monitoring.model_bias if monitoring_type == "ModelBias" else ws.monitoring.model_explainability
        with console(stderr=True).status(monitoring_type):
            rec = run(baseline, endpoint=endpoint, start_time=start, end_time=end, variant=variant, name=name, wait=wait)
        if not wait:
            emit(rec.to_dict(), as_json, lambda: typer.echo(f"started job {rec.name}"))
            return
        export_report(rec, html, open_)
        stats = ws.monitoring.statistics(rec, kind="monitoring-execution")
        doc = ws.monitoring.violations(rec)

        def render() -> None:
            if monitoring_type == "ModelBias":
                _print_bias(stats)
            else:
                _print_attributions(stats.get("explanations") or {}, stats.get("ndcg"))
            _print_violations(rec, doc)

        emit(_record(rec) | {"statistics": stats} | doc, as_json, render)

    @app.command("bias")
    def bias(
        baseline: str = ref_option("BASELINE", "--baseline", "-b", default=..., help="A ModelBias baseline."),
        endpoint: str = endpoint_opt, start: str = start_opt, end: str = end_opt, variant: str = variant_opt,
        name: str = typer.Option(None, help="Execution name (default ENDPOINT-bias)."),
        wait: bool = wait_opt, html: Path = HtmlOption, open_: bool = OpenOption, as_json: bool = JsonOption,
    ) -> None:  # fmt: skip
        """Run one bias drift execution: the window's captures joined with their ground truth."""
        _run("ModelBias", baseline, endpoint, start, end, variant, name, wait, html, open_, as_json)

    @app.command("explainability")
    def explainability(
        baseline: str = ref_option("BASELINE", "--baseline", "-b", default=..., help="A ModelExplainability baseline."),
        endpoint: str = endpoint_opt, start: str = start_opt, end: str = end_opt, variant: str = variant_opt,
        name: str = typer.Option(None, help="Execution name (default ENDPOINT-attribution)."),
        wait: bool = wait_opt, html: Path = HtmlOption, open_: bool = OpenOption, as_json: bool = JsonOption,
    ) -> None:  # fmt: skip
        """Run one feature attribution drift execution over the window's captured inputs."""
        _run("ModelExplainability", baseline, endpoint, start, end, variant, name, wait, html, open_, as_json)


__all__ = ["register"]
