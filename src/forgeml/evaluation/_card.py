"""Model cards generated from what the platform already knows about a model.

A card gathers the package manifest (task, inputs, target, classes, algorithm, requirements), the
latest evaluation, bias report and explanation of the model, and its lineage, plus the
free-text fields a person supplies (intended use, limitations). It renders as JSON, Markdown and
HTML.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

CARD_VERSION = "1.0"


def build_card(
    *,
    manifest: dict[str, Any],
    model_ref: str | None,
    evaluation: dict[str, Any] | None = None,
    evaluation_ref: str | None = None,
    bias: dict[str, Any] | None = None,
    bias_ref: str | None = None,
    explanation: dict[str, Any] | None = None,
    explanation_ref: str | None = None,
    lineage: dict[str, Any] | None = None,
    intended_use: str | None = None,
    limitations: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """The card as a JSON-ready dict (see the module docstring for its sections)."""
    from forgeml.evaluation._model import headline

    card: dict[str, Any] = {
        "model_card_version": CARD_VERSION,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "owner": owner,
        "model": {
            "reference": model_ref,
            "task": manifest.get("task"),
            "algorithm": manifest.get("algorithm"),
            "target": manifest.get("target"),
            "classes": manifest.get("classes"),
            "inputs": manifest.get("signature", {}).get("inputs", manifest.get("inputs")),
            "requirements": manifest.get("requirements", []),
            "training_metrics": manifest.get("metrics", {}),
        },
        "intended_use": intended_use or f"{manifest.get('task', 'unknown')} predictions of {manifest.get('target')!r}; not assessed for uses beyond the evaluation data below.",
        "limitations": limitations or "Metrics hold for data like the evaluation set; monitor for drift before trusting them elsewhere.",
    }
    if evaluation:
        card["evaluation"] = {"reference": evaluation_ref, "dataset": evaluation.get("data"), "problem_type": evaluation.get("problem_type"),
                              "rows": evaluation.get("dataset", {}).get("item_count"), "metrics": headline(evaluation)}  # fmt: skip
    if bias:
        summary: dict[str, Any] = {"reference": bias_ref}
        for stage in ("pre_training_bias_metrics", "post_training_bias_metrics"):
            if stage in bias:
                summary[stage] = {
                    f"{facet}={entry['value_or_threshold']}": {m["name"]: m["value"] for m in entry["metrics"]}
                    for facet, entries in bias[stage]["facets"].items() for entry in entries
                }  # fmt: skip
        card["bias"] = summary
    if explanation:
        key = next((k for k in explanation if k.endswith("_shap")), None)
        if key:
            label, body = next(iter(explanation[key].items()))
            top = sorted(body["global_shap_values"].items(), key=lambda kv: -abs(kv[1]))[:10]
            card["explanations"] = {"reference": explanation_ref, "method": key, "output": label,
                                    "feature_space": explanation.get("feature_space"),
                                    "top_features": [{"feature": k, "global_shap": v} for k, v in top]}  # fmt: skip
    if lineage:
        card["lineage"] = lineage
    return card


def _lineage_lines(node: dict[str, Any], depth: int = 0) -> list[str]:
    rel = f" ({node['relation']})" if node.get("relation") else ""
    lines = [f"{'  ' * depth}- `{node['ref']}`{rel}"]
    for child in node.get("children", []):
        lines.extend(_lineage_lines(child, depth + 1))
    return lines


def card_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown."""
    m = card["model"]
    out = [f"# Model card: {m.get('target')} ({m.get('task')})", "",
           f"Generated {card['generated_at']}" + (f" for {card['owner']}" if card.get("owner") else ""), "",
           "## Model", "", f"- reference: `{m.get('reference')}`", f"- algorithm: {m.get('algorithm')}",
           f"- target: `{m.get('target')}`; classes: {m.get('classes')}",
           f"- inputs: {', '.join(str(i.get('name')) for i in (m.get('inputs') or []))}", "",
           "## Intended use", "", card["intended_use"], "", "## Limitations", "", card["limitations"], ""]  # fmt: skip
    ev = card.get("evaluation")
    if ev:
        out += ["## Data and metrics", "", f"Evaluation `{ev.get('reference')}` on `{ev.get('dataset') or 'an in-memory frame'}` ({ev.get('rows')} rows).", "",
                "| metric | value |", "|---|---|"] + [f"| {k} | {v:.4g} |" for k, v in ev["metrics"].items()] + [""]  # fmt: skip
    bias = card.get("bias")
    if bias:
        out += ["## Bias", "", f"Report `{bias.get('reference')}`.", ""]
        for stage in ("pre_training_bias_metrics", "post_training_bias_metrics"):
            for facet, metrics in bias.get(stage, {}).items():
                out += [f"**{stage.replace('_', ' ')}, facet {facet}**: " + ", ".join(
                    f"{k} {v:.3g}" if isinstance(v, int | float) else f"{k} {v or 'undefined'}" for k, v in metrics.items()), ""]  # fmt: skip
    ex = card.get("explanations")
    if ex:
        out += ["## Explanations", "", f"{ex['method']} on {ex.get('feature_space')}; output {ex['output']}.", "",
                "| feature | global SHAP |", "|---|---|"] + [f"| {t['feature']} | {t['global_shap']:.4g} |" for t in ex["top_features"]] + [""]  # fmt: skip
    if card.get("lineage"):
        out += ["## Lineage", "", *_lineage_lines(card["lineage"]), ""]
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escape, then render Markdown's `code` and **bold**."""
    import re

    out = escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def card_html(card: dict[str, Any]) -> str:
    """The card as a self-contained HTML page (the Markdown text, rendered simply)."""
    from forgeml.evaluation._html import CSS

    body = []
    in_table = False
    for line in card_markdown(card).splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= {"-"}:
                continue
            cell = "td" if in_table else "th"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{cell}>{_inline(c)}</{cell}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{escape(line[3:])}</h2>")
        elif line.strip().startswith("- "):
            body.append(f"<div style='margin-left:{len(line) - len(line.lstrip())}em'>• {_inline(line.strip()[2:])}</div>")
        elif line:
            body.append(f"<p>{_inline(line)}</p>")
    if in_table:
        body.append("</table>")
    title = escape(f"Model card: {card['model'].get('target')}")
    return f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>"


__all__ = ["CARD_VERSION", "build_card", "card_html", "card_markdown"]
