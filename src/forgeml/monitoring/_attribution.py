"""Feature attribution drift (reference §10.9, ModelExplainability): the window's global SHAP
values against the baseline's, compared by NDCG; a violation when NDCG < the threshold (0.90).

NDCG as the reference defines it: ``F`` the features sorted by their baseline attribution
``a(f)``, ``F'`` sorted by the window's; ``DCG = Σ a(F'_i) / log2(i + 1)``, ``iDCG = Σ a(F_i) /
log2(i + 1)`` (``i`` from 1), ``NDCG = DCG / iDCG``. The gains are always the *baseline's*
attributions: the window only decides the order. Ties in an order are broken by feature name.
This is scikit-learn's ``ndcg_score(y_true=[a], y_score=[a'])`` when ``a'`` has no ties (the
AWS page links it).

The explainability config is Clarify's ``methods.shap`` (``num_clusters``, ``num_samples``,
``agg_method``, ``use_logit``, ``seed``, and ForgeML's ``method`` and ``max_rows``) plus
``headers`` (names of positional captured values), ``threshold`` (0.90) and
``background_rows`` (how many baseline rows are kept as SHAP's background, default 50).
"""

from __future__ import annotations

import math
from typing import Any

from forgeml.errors import ValidationError

DEFAULT_THRESHOLD = 0.90
CHECK_TYPE = "feature_attribution_drift_check"
SHAP_OPTIONS = {"num_clusters": 10, "num_samples": 100, "agg_method": "mean_abs", "use_logit": False, "seed": 0,
                "method": "auto", "max_rows": 100}  # fmt: skip
SETTINGS = {"headers": None, "threshold": DEFAULT_THRESHOLD, "background_rows": 50}


def ndcg(baseline: dict[str, float], window: dict[str, float]) -> float:
    """NDCG of the window's feature order, with the baseline's attributions as gains.

    Raises:
        ValidationError: the two name different features, or the baseline's iDCG is 0.
    """
    if set(baseline) != set(window):
        missing = sorted(set(baseline) ^ set(window))
        raise ValidationError(f"baseline and window attribute different features ({', '.join(missing[:5])})")
    ideal = sorted(baseline, key=lambda f: (-baseline[f], f))
    live = sorted(window, key=lambda f: (-window[f], f))
    idcg = sum(baseline[f] / math.log2(i + 2) for i, f in enumerate(ideal))
    if idcg == 0:
        raise ValidationError("the baseline's attributions are all 0: NDCG is undefined")
    return sum(baseline[f] / math.log2(i + 2) for i, f in enumerate(live)) / idcg


def parse_config(config: Any, where: str = "explainability_config") -> dict[str, Any]:
    """A checked, complete explainability config (defaults filled in).

    Raises:
        ValidationError: unknown keys or bad values, naming where.
    """
    from forgeml.clarify import AGG_METHODS, METHODS

    config = {} if config is None else config
    if not isinstance(config, dict):
        raise ValidationError(f"{where}: expected an object")
    unknown = set(config) - set(SHAP_OPTIONS) - set(SETTINGS)
    if unknown:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    out = {**SHAP_OPTIONS, **SETTINGS, **{k: v for k, v in config.items() if v is not None}}
    t = out["threshold"]
    if isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t <= 1:
        raise ValidationError(f"{where}.threshold: {t!r} is not a number in [0, 1]")
    out["threshold"] = float(t)
    if out["agg_method"] not in AGG_METHODS:
        raise ValidationError(f"{where}.agg_method: {out['agg_method']!r} is not one of {', '.join(AGG_METHODS)}")
    if out["method"] not in METHODS:
        raise ValidationError(f"{where}.method: {out['method']!r} is not one of {', '.join(METHODS)}")
    for key, low, high in (("num_clusters", 1, 100), ("num_samples", 10, 10_000), ("max_rows", 1, 10_000),
                           ("background_rows", 1, 1000), ("seed", 0, 2**31)):  # fmt: skip
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise ValidationError(f"{where}.{key}: {v!r} is not a whole number {low}-{high}")
    if not isinstance(out["use_logit"], bool):
        raise ValidationError(f"{where}.use_logit: {out['use_logit']!r} is not true or false")
    if out["headers"] is not None and (not isinstance(out["headers"], list) or not all(isinstance(h, str) and h for h in out["headers"])):
        raise ValidationError(f"{where}.headers: give a list of column names")
    return out


def explain_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """The :func:`forgeml.clarify.explain` keyword arguments of a config."""
    return {k: cfg[k] for k in SHAP_OPTIONS} | {"save_local": False, "top_k_features": 0}


def explanations(analysis: dict[str, Any]) -> dict[str, Any]:
    """``{"<method>_shap": {label: {"global_shap_values", "expected_value"}}}`` out of an explain result."""
    key = next(k for k in analysis if k.endswith("_shap"))
    return {key: analysis[key]}


def compare(baseline: dict[str, Any], window: dict[str, Any], threshold: float) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """NDCG per label and the constraint_violations.json entries (reference shape).

    Both arguments are ``explanations`` blocks; labels are matched by name.
    """
    (_, base), (_, cur) = next(iter(baseline.items())), next(iter(window.items()))
    scores, found = {}, []
    for label, b in base.items():
        if label not in cur:
            continue
        score = ndcg(b["global_shap_values"], cur[label]["global_shap_values"])
        scores[label] = score
        if score < threshold:
            found.append({"label": label, "metric_name": "shap", "constraint_check_type": CHECK_TYPE,
                          "description": f"Feature attribution drift {score:.6g} is below the threshold {threshold:g} (NDCG of the window's "
                                         f"global SHAP ranking against the baseline's)"})  # fmt: skip
    return scores, found


def metrics(window: dict[str, Any], scores: dict[str, float]) -> dict[str, float]:
    """Published metrics as the reference names them: ``feature_<f>`` (global SHAP) and
    ``ExpectedValue``; a second label's carry ``_<label>``. ForgeML adds ``attribution_ndcg``."""
    (_, cur) = next(iter(window.items()))
    out: dict[str, float] = {}
    for k, (label, block) in enumerate(cur.items()):
        suffix = "" if k == 0 else f"_{label}"
        for f, v in block["global_shap_values"].items():
            out[f"feature_{f}{suffix}"] = float(v)
        out[f"ExpectedValue{suffix}"] = float(block["expected_value"])
        if label in scores:
            out[f"attribution_ndcg{suffix}"] = float(scores[label])
    return out


__all__ = ["CHECK_TYPE", "DEFAULT_THRESHOLD", "compare", "explain_options", "explanations", "metrics", "ndcg", "parse_config"]
