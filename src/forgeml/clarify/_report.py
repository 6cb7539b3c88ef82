"""Bias reports: every requested metric for every facet, in analysis.json's layout.

``bias_report`` validates the frame once (columns present, no missing values where they would
change the answer), collapses label, prediction and facet to booleans, and runs the metrics.
A metric that has no value on the data is reported as Clarify does:
``{"name", "description", "value": null, "error": "<why>"}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.clarify._common import BiasData, MetricUndefined
from forgeml.clarify._facets import Facet, Selector, parse_selector
from forgeml.clarify._posttraining import POSTTRAINING
from forgeml.clarify._pretraining import PRETRAINING
from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Leibler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "CDDL": "Conditional Demographic Disparity in Labels (CDDL)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "DCA": "Difference in Conditional Acceptance (DCA)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "RD": "Recall Difference (RD)",
    "SD": "Specificity Difference (SD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "AD": "Accuracy Difference (AD)",
    "CDDPL": "Conditional Demographic Disparity in Predicted Labels (CDDPL)",
    "TE": "Treatment Equality (TE)",
    "FT": "Flip Test (FT)",
    "GE": "Generalized Entropy (GE)",
}


def select_methods(methods: str | Sequence[str] | None, registry: dict[str, Any], stage: str) -> list[str]:
    """Metric names to run, sorted as smclarify sorts them.

    Raises:
        ValidationError: a name that is not a metric of this stage.
    """
    if methods is None or methods == "all" or list(methods) == ["all"]:
        return sorted(registry)
    names = [m.strip().upper() for m in ([methods] if isinstance(methods, str) else methods)]
    unknown = [m for m in names if m not in registry]
    if unknown:
        raise ValidationError(
            f"unknown {stage} bias metric(s) {', '.join(unknown)} (expected 'all' or some of {', '.join(sorted(registry))})"
        )
    return sorted(set(names))


def json_value(value: float) -> float | str:
    """±inf as "Infinity"/"-Infinity", as Clarify writes them."""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def run_metrics(data: BiasData, names: list[str], registry: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in names:
        entry: dict[str, Any] = {"name": name, "description": DESCRIPTIONS[name]}
        try:
            entry["value"] = json_value(float(registry[name](data)))
        except MetricUndefined as exc:
            entry["value"] = None
            entry["error"] = str(exc)
        out.append(entry)
    return out


def _require_columns(frame: pd.DataFrame, columns: dict[str, str | None]) -> None:
    for what, col in columns.items():
        if col is not None and col not in frame.columns:
            raise ValidationError(f"{what} column {col!r} is not in the data (columns: {', '.join(map(str, frame.columns[:20]))})")


def _check_missing(frame: pd.DataFrame, columns: list[str]) -> None:
    for col in columns:
        nulls = frame[col].isna().to_numpy()
        if nulls.any():
            rows = np.flatnonzero(nulls)[:5].tolist()
            raise ValidationError(
                f"column {col!r} has {int(nulls.sum())} missing value(s) (first rows {rows}); drop or fill them, or pass dropna=True"
            )


def ft_feature_columns(
    frame: pd.DataFrame, ft_features: Sequence[str] | None, excluded: set[str], candidates: Sequence[str] | None = None
) -> list[str]:
    """The columns the flip test's kNN runs on.

    Given explicitly (``ft_features``), each must be a numeric column of the frame. By default: the numeric columns of ``candidates`` (or of
    the frame) minus those; text and other non-numeric columns are left out, not an error.

    Raises:
        ValidationError: an explicit FT feature that is missing or not numeric.
    """
    import pandas as pd

    if ft_features is None:
        pool = [c for c in (candidates if candidates is not None else frame.columns) if c in frame.columns]
        return [c for c in pool if c not in excluded and pd.api.types.is_numeric_dtype(frame[c].dtype)]
    names = list(ft_features)
    _require_columns(frame, {f"FT feature {c!r}": c for c in names})
    text = [c for c in names if not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    if text:
        raise ValidationError(f"FT feature(s) {', '.join(map(repr, text))}: FlipTest needs numeric columns (these are {frame[text[0]].dtype})")
    return names


def _facet_values(facet: Facet, series: pd.Series) -> list[Selector]:
    if facet.selector is not None:
        return [facet.selector]
    return [Selector(values=(v,)) for v in series.unique().tolist()]  # each value against the rest


def bias_report(
    frame: pd.DataFrame,
    *,
    label: str,
    label_values_or_threshold: Any,
    facets: Sequence[Any],
    predicted_label: str | np.ndarray | pd.Series | None = None,
    group_variable: str | None = None,
    pre_training_methods: str | Sequence[str] | None = "all",
    post_training_methods: str | Sequence[str] | None = "all",
    ft_features: Sequence[str] | None = None,
    dropna: bool = False,
    ft_candidates: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Pre- and (with predictions) post-training bias metrics in analysis.json's layout.

    Args:
        frame: the data: features, the label column, the facet column(s).
        label: the observed label column.
        label_values_or_threshold: positive label values (list) or ``"> t"`` for a numeric label.
        facets: facet specs (``"black=1"``, ``"age>40"``, ``{"name_or_index":..,"value_or_threshold":..}``).
        predicted_label: a column name or an array of predicted labels; enables post-training metrics.
        group_variable: column of subgroups for CDDL / CDDPL.
        pre_training_methods: "all", a list of names, or None to skip the stage.
        post_training_methods: likewise for post-training metrics.
        ft_features: the columns FT's kNN uses; each must exist and be numeric. Default: the
            numeric columns among ``ft_candidates`` (or every column) other than the label, the
            prediction, the facets and the group variable (smclarify never uses those for FT).
        dropna: drop rows with a missing label, prediction, facet or group instead of failing.
        ft_candidates: the columns FT may pick from by default (e.g. a model's input columns).

    Raises:
        ValidationError: missing columns, missing values, unknown metric names, bad facet specs.
    """
    import pandas as pd

    facet_list = [Facet.parse(f) for f in facets]
    if not facet_list:
        raise ValidationError("at least one facet is required")
    _require_columns(frame, {"label": label, "group variable": group_variable})
    for f in facet_list:
        _require_columns(frame, {"facet": f.name})
    pred_col: str | None = None
    if predicted_label is not None:
        if isinstance(predicted_label, str):
            _require_columns(frame, {"predicted label": predicted_label})
            pred_col = predicted_label
        else:
            values = np.asarray(predicted_label)
            if len(values) != len(frame):
                raise ValidationError(f"{len(values)} predicted labels for {len(frame)} rows")
            frame = frame.assign(__predicted_label__=values)
            pred_col = "__predicted_label__"
    checked = [label, *(f.name for f in facet_list)] + ([pred_col] if pred_col else []) + ([group_variable] if group_variable else [])
    if dropna:
        frame = frame.dropna(subset=checked)
    _check_missing(frame, checked)
    if len(frame) == 0:
        raise ValidationError("the data has no rows")

    selector = parse_selector(label_values_or_threshold, f"label {label!r}")
    y = selector.mask(frame[label], "label")
    yhat = selector.mask(frame[pred_col], "predicted label") if pred_col else None
    group = pd.factorize(frame[group_variable], sort=True)[0] if group_variable else None
    excluded = {label, *(f.name for f in facet_list), *([pred_col] if pred_col else []), *([group_variable] if group_variable else [])}
    features = frame[ft_feature_columns(frame, ft_features, excluded, ft_candidates)]

    pre = select_methods(pre_training_methods, PRETRAINING, "pre-training") if pre_training_methods is not None else []
    post = select_methods(post_training_methods, POSTTRAINING, "post-training") if yhat is not None and post_training_methods is not None else []
    label_text = selector.describe(frame[label])
    out: dict[str, Any] = {"version": "1.0"}
    sections = {"pre_training_bias_metrics": (pre, PRETRAINING), "post_training_bias_metrics": (post, POSTTRAINING)}
    for key, (names, registry) in sections.items():
        if not names:
            continue
        facets_out: dict[str, list[dict[str, Any]]] = {}
        for facet in facet_list:
            series = frame[facet.name]
            for sel in _facet_values(facet, series):
                data = BiasData(d=sel.mask(series, "facet"), y=y, yhat=yhat, group=group, features=features)
                facets_out.setdefault(facet.name, []).append(
                    {"value_or_threshold": sel.describe(series), "metrics": run_metrics(data, names, registry)}
                )
        out[key] = {"label": label, "label_value_or_threshold": label_text, "facets": facets_out}
    warnings = []
    if yhat is not None and not yhat.any():
        warnings.append("no predicted label is positive")  # smclarify aborts here; we report per metric
    if not y.any() or y.all():
        warnings.append("the observed label has a single class after collapsing")
    if warnings:
        out["warnings"] = warnings
    return out


__all__ = ["DESCRIPTIONS", "bias_report", "ft_feature_columns", "json_value", "run_metrics", "select_methods"]
