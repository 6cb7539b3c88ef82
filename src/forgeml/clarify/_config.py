"""SageMaker Clarify's ``analysis_config.json``, read and run locally.

Supported keys (reference §7): ``label``, ``label_values_or_threshold``, ``facet`` (list of
``{"name_or_index", "value_or_threshold"}``), ``group_variable``, ``probability_threshold``,
``methods.pre_training_bias.methods``, ``methods.post_training_bias.methods``, ``methods.shap``
(``baseline`` rows, ``num_clusters``, ``num_samples``, ``agg_method``, ``use_logit``,
``save_local_shap_values``, ``seed``) and ``methods.pdp`` (``features``, ``top_k_features``,
``grid_resolution``). The model is a local package instead of ``predictor`` (a shadow endpoint):
``predictor`` and the dataset-format keys are accepted and ignored. ForgeML extensions inside
``methods.shap``: ``method`` (auto | tree | kernel | permutation, default auto) and
``max_rows`` (default: every row, as Clarify).
"""

from __future__ import annotations

from typing import Any

from forgeml.errors import ValidationError

KNOWN_TOP = {"version", "dataset_type", "headers", "label", "label_values_or_threshold", "facet", "group_variable",
             "probability_threshold", "methods", "predictor", "joinsource_name_or_index", "features",
             "excluded_columns", "predicted_label", "dataset_uri"}  # fmt: skip
KNOWN_METHODS = {"pre_training_bias", "post_training_bias", "shap", "pdp", "report"}
SHAP_KEYS = {"baseline": "baseline", "num_clusters": "num_clusters", "num_samples": "num_samples",
             "agg_method": "agg_method", "use_logit": "use_logit", "save_local_shap_values": "save_local",
             "seed": "seed", "method": "method", "max_rows": "max_rows"}  # fmt: skip


def parse_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate an analysis config and turn it into ForgeML arguments.

    Returns:
        ``{"bias": {...} | None, "explain": {...} | None}``.

    Raises:
        ValidationError: unknown keys, a bias method without label or facet, bad method lists.
    """
    if not isinstance(config, dict):
        raise ValidationError("the analysis config must be a JSON object")
    unknown = set(config) - KNOWN_TOP
    if unknown:
        raise ValidationError(f"analysis config: unknown key(s) {', '.join(sorted(unknown))}")
    methods = config.get("methods")
    if not isinstance(methods, dict) or not methods:
        raise ValidationError("analysis config: 'methods' must name at least one of pre_training_bias, post_training_bias, shap, pdp")
    unknown = set(methods) - KNOWN_METHODS
    if unknown:
        raise ValidationError(f"analysis config: unknown method(s) {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {"bias": None, "explain": None}
    pre = methods.get("pre_training_bias")
    post = methods.get("post_training_bias")
    if pre is not None or post is not None:
        if not config.get("label"):
            raise ValidationError("analysis config: bias methods need 'label'")
        facets = config.get("facet")
        if not isinstance(facets, list) or not facets:
            raise ValidationError("analysis config: bias methods need a non-empty 'facet' list")
        out["bias"] = {
            "label": config["label"],
            "label_values_or_threshold": config.get("label_values_or_threshold"),
            "facets": facets,
            "group_variable": config.get("group_variable"),
            "probability_threshold": config.get("probability_threshold"),
            "methods": (pre or {}).get("methods", "all") if pre is not None else None,
            "post_training_methods": (post or {}).get("methods", "all") if post is not None else None,
            "post": post is not None,
        }
    shap_cfg, pdp_cfg = methods.get("shap"), methods.get("pdp")
    if shap_cfg is not None or pdp_cfg is not None:
        opts: dict[str, Any] = {"max_rows": None, "top_k_features": 0}
        for key, value in (shap_cfg or {}).items():
            if key not in SHAP_KEYS:
                raise ValidationError(f"analysis config: unknown shap option {key!r}")
            if key == "baseline" and not isinstance(value, list):  # Clarify's S3 URI form: ForgeML reads no location
                raise ValidationError("analysis config: methods.shap.baseline must be a list of rows (a file or URI is not read)")
            opts[SHAP_KEYS[key]] = value
        if pdp_cfg is not None:
            if pdp_cfg.get("features"):
                opts["pdp_features"] = list(pdp_cfg["features"])
            else:
                opts["top_k_features"] = int(pdp_cfg.get("top_k_features", 10))
            opts["grid_resolution"] = int(pdp_cfg.get("grid_resolution", 15))
        out["explain"] = opts
    return out


__all__ = ["parse_config"]


UNIQUENESS_THRESHOLD = 0.05


def is_continuous(series: Any, values: Any) -> bool:
    """smclarify's ``series_datatype``: does a one-value spec mean a threshold on this column?

    Categorical when the column is categorical or more than one value is given; continuous for
    floats, and for integers (or integer-like text) with at least 5 % distinct values.
    """
    import numpy as np
    import pandas as pd

    if isinstance(values, list) and len(values) > 1:
        return False
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series):
        return False
    count = int(series.count())
    uniqueness = series.nunique() / count if count else 0.0
    if pd.api.types.is_float_dtype(series):
        return True
    if pd.api.types.is_integer_dtype(series):
        return uniqueness >= UNIQUENESS_THRESHOLD
    if pd.api.types.is_string_dtype(series) or series.dtype == object:
        as_int = pd.to_numeric(series, errors="coerce")
        return bool(as_int.notna().all() and np.all(as_int == as_int.round()) and uniqueness >= UNIQUENESS_THRESHOLD)
    return False


def as_forgeml_spec(series: Any, values: Any) -> Any:
    """A Clarify ``value_or_threshold`` turned into ForgeML's explicit form (``"> t"`` or a list)."""
    if values is None or isinstance(values, str):
        return values
    vals = values if isinstance(values, list) else [values]
    if len(vals) == 1 and is_continuous(series, vals):
        try:
            return f"> {float(vals[0])}"
        except (TypeError, ValueError):
            raise ValidationError(f"column {series.name!r} is continuous: its value_or_threshold must be one number") from None
    return vals
