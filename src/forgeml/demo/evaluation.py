"""Demo stage "evaluation": model quality, bias, explanations and a model card.

Reads ``state["model_dir"]`` (the best model package), ``state["test"]`` (held-out dataset
record), ``state["target"]`` (``approve``) and ``state["sensitive"]`` (``black``). Sets
``state["evaluation"]``, ``state["bias"]``, ``state["explanations"]`` and ``state["model_card"]``
(plain dicts) and adds summary lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forgeml.core.workspace import Workspace

GROUP_CANDIDATES = ("married", "male", "self")


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else str(value)


def stage(ws: Workspace, state: dict[str, Any], say: Callable[[str], None]) -> None:
    """Evaluate, check bias (facet black = 1, approve = 1 positive), explain, write the card."""
    import pandas as pd

    model_dir, test, target, sensitive = state["model_dir"], state["test"], state["target"], state["sensitive"]
    frame = ws.datasets.read(test.name, test.version)
    model_ref = state.get("model_ref")

    ev = ws.evaluation.evaluate(model_dir, test, target=target, name="loans", model_ref=model_ref)
    m = ev.data["metrics"]
    say(f"evaluation {ev.ref}: " + ", ".join(f"{k} {_fmt(m[k])}" for k in ("auc", "accuracy", "f1", "log_loss") if k in m))

    from forgeml.registry.package import load_model

    inputs = load_model(model_dir).manifest.feature_names
    ft_features = [c for c in inputs if c in frame and pd.api.types.is_numeric_dtype(frame[c]) and not frame[c].isna().any()]
    group = next((g for g in GROUP_CANDIDATES if g in frame.columns and g != sensitive), None)
    bias = ws.clarify.bias(test, label=target, facets=[f"{sensitive}=1"], label_values_or_threshold=[1], model=model_dir,
                           group_variable=group, ft_features=ft_features, dropna=True, name="loans")  # fmt: skip
    analysis = ws.clarify.report(bias)

    def pick(stage_key: str, names: tuple[str, ...]) -> dict[str, Any]:
        entry = analysis[stage_key]["facets"][sensitive][0]["metrics"]
        return {x["name"]: x["value"] for x in entry if x["name"] in names}

    pre = pick("pre_training_bias_metrics", ("CI", "DPL", "KL", "CDDL"))
    post = pick("post_training_bias_metrics", ("DPPL", "DI", "AD", "RD", "FT"))
    say(f"bias {bias.ref} ({sensitive}=1): pre " + ", ".join(f"{k} {_fmt(v)}" for k, v in pre.items())
        + "; post " + ", ".join(f"{k} {_fmt(v)}" for k, v in post.items()))  # fmt: skip

    ex = ws.clarify.explain(model_dir, test, name="loans", max_rows=100, num_samples=256, top_k_features=3, grid_resolution=10, model_ref=model_ref)
    shap_values = ex.data["global_shap_values"]
    top = sorted(shap_values, key=lambda k: -abs(shap_values[k]))[:5]
    say(f"explanation {ex.ref} ({ex.data['method']} SHAP, {ex.data['rows_explained']} rows): top features " + ", ".join(top))

    card = ws.evaluation.model_card(
        model_dir, name="loans", evaluation=ev, bias=bias, explanation=ex, model_ref=model_ref,
        intended_use="Demonstration: scoring mortgage applications from the 1990 Boston HMDA sample; not for real credit decisions.",
        limitations="Trained on 1,989 applications from one city and year; approval labels reflect historical decisions, including their bias.",
    )  # fmt: skip
    say(f"model card {card.ref}")
    from forgeml.demo import keep_report

    for record in (ev, bias, ex, card):
        keep_report(ws, state, record)

    state["evaluation"] = {"ref": ev.ref, "metrics": m, "report": ws.evaluation.report(ev)}
    state["bias"] = {"ref": bias.ref, "analysis": analysis}
    state["explanations"] = {"ref": ex.ref, "method": ex.data["method"], "global_shap_values": shap_values,
                             "expected_value": ex.data["expected_value"]}  # fmt: skip
    state["model_card"] = {"ref": card.ref, **card.data["card"]}
    summary = state.setdefault("summary", {})
    summary["evaluation"] = ", ".join(f"{k} {_fmt(m[k])}" for k in ("auc", "accuracy", "f1", "pr_auc") if k in m)
    summary["bias (black=1)"] = ", ".join(f"{k} {_fmt(v)}" for k, v in {**pre, **post}.items())
    summary["top features"] = ", ".join(top)
    summary["model card"] = card.ref
