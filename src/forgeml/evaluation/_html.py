"""A self-contained HTML report: metrics tables and inline SVG charts, no external assets."""

from __future__ import annotations

from html import escape
from typing import Any

from forgeml.evaluation._svg import bar_chart, heatmap, line_chart

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;font-size:.9em}
th{background:#f4f4f4}.charts{display:flex;flex-wrap:wrap;gap:1em}.error{color:#a00}.pass{color:#080}.fail{color:#a00}
"""


def _v(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_v(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def evaluation_section(report: dict[str, Any]) -> str:
    """Metrics table plus ROC, PR, calibration and confusion-matrix charts of an evaluation."""
    section_key = next((k for k in report if k.endswith("_metrics")), None)
    if section_key is None:
        return ""
    section = report[section_key]
    rows = [(name, e["value"], e.get("standard_deviation", "")) for name, e in section.items()
            if isinstance(e, dict) and "value" in e]  # fmt: skip
    parts = [f"<h2>Model quality ({escape(report.get('problem_type', ''))})</h2>",
             f"<p>{report.get('dataset', {}).get('item_count', '?')} rows; target <code>{escape(str(report.get('target')))}</code>"
             + (f"; positive label <code>{escape(str(report['positive_label']))}</code>, threshold {report['threshold']}" if "positive_label" in report else "")
             + "</p>", _table(rows, ("metric", "value", "standard deviation"))]  # fmt: skip
    charts = []
    roc = section.get("receiver_operating_characteristic_curve")
    if roc:
        charts.append(line_chart([("ROC", roc["false_positive_rates"], roc["true_positive_rates"])], title="ROC curve",
                                 xlabel="false positive rate", ylabel="true positive rate", diagonal=True, css_class="roc"))  # fmt: skip
    pr = section.get("precision_recall_curve")
    if pr:
        charts.append(line_chart([("precision-recall", pr["recalls"], pr["precisions"])], title="Precision-recall curve",
                                 xlabel="recall", ylabel="precision", css_class="pr"))  # fmt: skip
    cal = section.get("calibration")
    if cal:
        charts.append(line_chart([("model", cal["mean_predicted"], cal["fraction_positive"])], title="Calibration",
                                 xlabel="mean predicted probability", ylabel="fraction positive", diagonal=True, css_class="calibration"))  # fmt: skip
    cm = section.get("confusion_matrix")
    if cm:
        labels = list(cm)
        cols = list(next(iter(cm.values())))
        charts.append(heatmap([[cm[r][c] for c in cols] for r in labels], labels, cols, title="Confusion matrix", css_class="confusion"))
    if charts:
        parts.append('<div class="charts">' + "".join(charts) + "</div>")
    sel = report.get("threshold_selection")
    if sel:
        parts.append("<h3>Cost-optimal threshold</h3>" + _table([(k, v) for k, v in sel["confusion"].items()] + [("threshold", sel["threshold"]), ("total cost", sel["total_cost"])], ("", "")))
    return "\n".join(parts)


def bias_section(analysis: dict[str, Any]) -> str:
    """One table and one bar chart per facet value and stage."""
    parts: list[str] = []
    for stage, title in (("pre_training_bias_metrics", "Pre-training bias"), ("post_training_bias_metrics", "Post-training bias")):
        block = analysis.get(stage)
        if not block:
            continue
        parts.append(f"<h2>{title}</h2><p>label <code>{escape(block['label'])}</code> positive when "
                     f"<code>{escape(block['label_value_or_threshold'])}</code></p>")  # fmt: skip
        for facet, entries in block["facets"].items():
            for entry in entries:
                rows = [(m["name"], m["value"] if m["value"] is not None else "undefined", m.get("error", ""), m["description"]) for m in entry["metrics"]]
                parts.append(f"<h3>facet <code>{escape(facet)}</code> = {escape(str(entry['value_or_threshold']))}</h3>")
                parts.append(_table(rows, ("metric", "value", "why undefined", "description")))
                finite = [(m["name"], m["value"]) for m in entry["metrics"] if isinstance(m["value"], int | float)]
                if finite:
                    parts.append(bar_chart([n for n, _ in finite], [float(v) for _, v in finite],
                                           title=f"{title}: {facet}", css_class="bias"))  # fmt: skip
    return "\n".join(parts)


def explanation_section(explanations: dict[str, Any]) -> str:
    """Global SHAP bar chart per output, and partial dependence lines."""
    parts: list[str] = []
    for method, outputs in explanations.items():
        if method == "pdp" or not isinstance(outputs, dict):
            continue
        for label, body in outputs.items():
            values = body.get("global_shap_values", {})
            if not values:
                continue
            top = sorted(values.items(), key=lambda kv: -abs(kv[1]))[:20]
            parts.append(f"<h2>SHAP summary ({escape(method)}, {escape(label)})</h2>"
                         f"<p>expected value {_v(body.get('expected_value'))}; features are the model's inputs after its recipe</p>")  # fmt: skip
            parts.append(bar_chart([k for k, _ in top], [v for _, v in top], title=f"global SHAP ({escape(label)})",
                                   xlabel="global attribution", css_class="shap"))  # fmt: skip
    pdp = explanations.get("pdp") or []
    if pdp:
        parts.append("<h2>Partial dependence</h2>")
        charts = []
        for item in pdp:
            xs = [float(x) for x in item["feature_values"]]
            series = [(str(h), xs, [float(p) for p in preds]) for h, preds in zip(item["label_headers"], item["model_predictions"], strict=False)]
            charts.append(line_chart(series, title=f"PDP: {item['feature_name']}", xlabel=item["feature_name"],
                                     ylabel="average prediction", unit_square=False, css_class="pdp"))  # fmt: skip
        parts.append('<div class="charts">' + "".join(charts) + "</div>")
    return "\n".join(parts)


def render_report(
    title: str,
    *,
    evaluation: dict[str, Any] | None = None,
    bias: dict[str, Any] | None = None,
    explanations: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
    extra_html: str = "",
) -> str:
    """The whole HTML document (UTF-8, inline CSS and SVG, opens offline)."""
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>",
             f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>", extra_html]  # fmt: skip
    if comparison:
        cls = "pass" if comparison["passed"] else "fail"
        parts.append(f'<h2>Gate: <span class="{cls}">{comparison["verdict"]}</span></h2>')
        parts.append(_table([(c["metric"], c.get("challenger"), c.get("champion", ""), "pass" if c["passed"] else c.get("reason", "fail"))
                             for c in comparison["checks"]], ("metric", "challenger", "champion", "result")))  # fmt: skip
    if evaluation:
        parts.append(evaluation_section(evaluation))
    if bias:
        parts.append(bias_section(bias))
    if explanations:
        parts.append(explanation_section(explanations))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


table_html = _table  # for other report pages (validation, compile reports)

__all__ = ["bias_section", "evaluation_section", "explanation_section", "render_report", "table_html"]
