"""Bias drift (reference §10.9, ModelBias): post-training bias metrics of a window with a normal
bootstrap confidence interval, and a violation only when that interval is disjoint from the
metric's allowed range.

* The metrics are :mod:`forgeml.clarify`'s (smclarify's formulas), on the window's captured
  inputs (the facet), predictions (the capture's output) and ground truth (the late labels).
* Normal bootstrap interval: ``value ± z · sd``, ``sd`` the standard deviation of the metric over
  ``bootstrap_samples`` resamples of the rows with replacement (fixed ``seed``), ``z`` the
  standard normal quantile of ``(1 + confidence_level) / 2``. Resamples where the metric is
  undefined or infinite are left out.
* Allowed range ``A``: ``thresholds[metric]`` (``[low, high]``) from the bias config, else the
  baseline's value ``± default_tolerance`` (the reference does not say how ``A`` is derived:
  this default is a setting, 0.1). A violation fires when ``CI ∩ A = ∅``; overlap is no alert.

The bias config is Clarify's analysis config (``label``, ``label_values_or_threshold``,
``facet``, ``group_variable``, ``probability_threshold``, ``methods.post_training_bias``) plus
the monitor's settings listed in :data:`SETTINGS`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

LABEL, PREDICTION, PROBABILITY = "__label__", "__prediction__", "__probability__"
SETTINGS: dict[str, Any] = {"headers": None, "inference_attribute": "predicted_label", "probability_attribute": None,
            "predicted_label": None, "thresholds": {}, "default_tolerance": 0.1, "bootstrap_samples": 100,
            "confidence_level": 0.95, "seed": 0}  # fmt: skip
CLARIFY = ("label", "label_values_or_threshold", "facet", "group_variable", "probability_threshold", "methods")
CHECK_TYPE = "bias_drift_check"


def _number(value: Any, at: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationError(f"{at}: {value!r} is not a number in [{low:g}, {high:g}]")
    return float(value)


def parse_config(config: Any, where: str = "bias_config") -> dict[str, Any]:
    """A checked, complete bias config (defaults filled in).

    Raises:
        ValidationError: unknown keys, a missing label spec or facet, bad thresholds or settings.
    """
    from forgeml.clarify import POSTTRAINING, Facet, parse_selector
    from forgeml.clarify._report import select_methods

    if not isinstance(config, dict):
        raise ValidationError(f"{where}: expected an object (Clarify's analysis config)")
    unknown = set(config) - set(CLARIFY) - set(SETTINGS)
    if unknown:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {**SETTINGS, **{k: v for k, v in config.items() if v is not None}}
    out.setdefault("label", "label")
    if not isinstance(out["label"], str) or not out["label"]:
        raise ValidationError(f"{where}.label: give the label's name")
    if "label_values_or_threshold" not in out:
        raise ValidationError(f"{where}.label_values_or_threshold: give the positive label values or '> threshold'")
    parse_selector(out["label_values_or_threshold"], f"{where}.label_values_or_threshold")
    facets = out.get("facet")
    if not isinstance(facets, list) or not facets:
        raise ValidationError(f"{where}.facet: give a non-empty list of {{'name_or_index', 'value_or_threshold'}}")
    out["facet"] = [_facet_json(Facet.parse(f)) for f in facets]
    methods = out.get("methods", "all")
    if isinstance(methods, dict):  # Clarify's {"post_training_bias": {"methods": [...]}}
        unknown = set(methods) - {"post_training_bias"}
        if unknown:
            raise ValidationError(f"{where}.methods: a bias monitor runs post_training_bias only, not {', '.join(sorted(unknown))}")
        methods = (methods.get("post_training_bias") or {}).get("methods", "all")
    out["methods"] = select_methods(methods, POSTTRAINING, "post-training")
    if out.get("probability_threshold") is not None:
        _number(out["probability_threshold"], f"{where}.probability_threshold", 0.0, 1.0)
    if out["headers"] is not None and (not isinstance(out["headers"], list) or not all(isinstance(h, str) and h for h in out["headers"])):
        raise ValidationError(f"{where}.headers: give a list of column names")
    thresholds = out["thresholds"]
    if not isinstance(thresholds, dict):
        raise ValidationError(f"{where}.thresholds: expected {{metric: [low, high]}}")
    for metric, rng in thresholds.items():
        at = f"{where}.thresholds.{metric}"
        if metric not in POSTTRAINING:
            raise ValidationError(f"{at}: unknown post-training metric (one of {', '.join(sorted(POSTTRAINING))})")
        if not isinstance(rng, list | tuple) or len(rng) != 2:
            raise ValidationError(f"{at}: expected [low, high]")
        low, high = (_number(v, at, -math.inf, math.inf) for v in rng)
        if low > high:
            raise ValidationError(f"{at}: low {low:g} is above high {high:g}")
    out["thresholds"] = {m: [float(a), float(b)] for m, (a, b) in thresholds.items()}
    out["default_tolerance"] = _number(out["default_tolerance"], f"{where}.default_tolerance", 0.0, math.inf)
    out["confidence_level"] = _number(out["confidence_level"], f"{where}.confidence_level", 0.5, 0.999)
    samples = out["bootstrap_samples"]
    if isinstance(samples, bool) or not isinstance(samples, int) or not 10 <= samples <= 10_000:
        raise ValidationError(f"{where}.bootstrap_samples: {samples!r} is not a whole number 10-10000")
    if isinstance(out["seed"], bool) or not isinstance(out["seed"], int):
        raise ValidationError(f"{where}.seed: {out['seed']!r} is not a whole number")
    return out


def _facet_json(facet: Any) -> dict[str, Any]:
    return {"name_or_index": facet.name, "value_or_threshold": facet.selector.to_json() if facet.selector else None}


def normal_interval(value: float, replicates: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """``value ± z·sd(replicates)`` (None when fewer than two replicates are finite)."""
    from scipy.stats import norm

    finite = replicates[np.isfinite(replicates)]
    if len(finite) < 2 or not math.isfinite(value):
        return None
    half = float(norm.ppf(0.5 + confidence / 2)) * float(np.std(finite, ddof=1))
    return value - half, value + half


def disjoint(interval: tuple[float, float], allowed: tuple[float, float]) -> bool:
    """True when the interval and the allowed range share no point (the only case that alerts)."""
    return interval[1] < allowed[0] or interval[0] > allowed[1]


def _prepare(frame: pd.DataFrame, cfg: dict[str, Any]) -> tuple[Any, list[Any], np.ndarray, np.ndarray, np.ndarray | None, Any]:
    """Collapsed label and prediction, facet specs, group codes and FT's features (clarify's rules)."""
    import pandas as pd

    from forgeml.clarify import Facet, parse_selector
    from forgeml.clarify._report import _check_missing, _require_columns, ft_feature_columns

    facets = [Facet.parse(f) for f in cfg["facet"]]
    for f in facets:
        _require_columns(frame, {"facet": f.name})
    group = cfg.get("group_variable")
    _require_columns(frame, {"group variable": group})
    _check_missing(frame, [LABEL, PREDICTION, *(f.name for f in facets), *([group] if group else [])])
    selector = parse_selector(cfg["label_values_or_threshold"], f"label {cfg['label']!r}")
    y = selector.mask(frame[LABEL], "label")
    yhat = selector.mask(frame[PREDICTION], "predicted label")
    codes = pd.factorize(frame[group], sort=True)[0] if group else None
    excluded = {LABEL, PREDICTION, PROBABILITY, *(f.name for f in facets), *([group] if group else [])}
    features = frame[ft_feature_columns(frame, None, excluded)]
    return selector, facets, y, yhat, codes, features


def analyse(frame: pd.DataFrame, cfg: dict[str, Any], baseline: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(analysis.json, violations)`` of one window (or, with no ``baseline``, of the baseline data).

    ``frame`` holds the inputs, ``__label__`` (ground truth) and ``__prediction__``. Each metric
    entry carries ``value``, ``confidence_interval`` ``[low, high]`` (or None) and, against a
    baseline, ``allowed_range``.

    Raises:
        ValidationError: a facet or group column missing from the data, missing values.
    """
    from forgeml.clarify import POSTTRAINING, BiasData, MetricUndefined
    from forgeml.clarify._report import DESCRIPTIONS, _facet_values, json_value

    selector, facets, y, yhat, codes, features = _prepare(frame, cfg)
    base = _baseline_values(baseline) if baseline else {}
    rng = np.random.default_rng(cfg["seed"])
    n = len(frame)
    draws = [rng.integers(0, n, size=n) for _ in range(cfg["bootstrap_samples"])]
    out: dict[str, list[dict[str, Any]]] = {}
    found: list[dict[str, Any]] = []
    for facet in facets:
        series = frame[facet.name]
        for sel in _facet_values(facet, series):
            d = sel.mask(series, "facet")
            data = BiasData(d=d, y=y, yhat=yhat, group=codes, features=features)
            value_text = sel.describe(series)
            entries = []
            for name in cfg["methods"]:
                entry: dict[str, Any] = {"name": name, "description": DESCRIPTIONS[name]}
                try:
                    value = float(POSTTRAINING[name](data))
                except MetricUndefined as exc:
                    entries.append(entry | {"value": None, "error": str(exc), "confidence_interval": None})
                    continue
                reps = np.array([_safe(POSTTRAINING[name], BiasData(d=d[i], y=y[i], yhat=yhat[i], group=None if codes is None else codes[i],
                                                                     features=features.iloc[i])) for i in draws])  # fmt: skip
                ci = normal_interval(value, reps, cfg["confidence_level"])
                entry |= {"value": json_value(value), "confidence_interval": None if ci is None else [ci[0], ci[1]]}
                allowed = _allowed(name, cfg, base.get((facet.name, value_text, name))) if baseline is not None else None
                if allowed is not None:
                    entry["allowed_range"] = list(allowed)
                    if ci is not None and disjoint(ci, allowed):
                        found.append({"facet": facet.name, "facet_value": value_text, "metric_name": name, "constraint_check_type": CHECK_TYPE,
                                      "description": f"Value {value:.6g} (confidence interval [{ci[0]:.6g}, {ci[1]:.6g}]) does not meet the "
                                                     f"constraint requirement [{allowed[0]:.6g}, {allowed[1]:.6g}]"})  # fmt: skip
                entries.append(entry)
            out.setdefault(facet.name, []).append({"value_or_threshold": value_text, "metrics": entries})
    analysis = {"version": "1.0", "post_training_bias_metrics": {"label": cfg["label"], "label_value_or_threshold": selector.describe(frame[LABEL]),
                                                                 "facets": out}}  # fmt: skip
    return analysis, found


def _safe(metric: Any, data: Any) -> float:
    from forgeml.clarify import MetricUndefined

    try:
        return float(metric(data))
    except MetricUndefined:
        return math.nan


def _baseline_values(analysis: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    out = {}
    for facet, values in (analysis.get("post_training_bias_metrics") or {}).get("facets", {}).items():
        for v in values:
            for m in v["metrics"]:
                if isinstance(m.get("value"), int | float):
                    out[(facet, str(v["value_or_threshold"]), m["name"])] = float(m["value"])
    return out


def _allowed(name: str, cfg: dict[str, Any], base: float | None) -> tuple[float, float] | None:
    if name in cfg["thresholds"]:
        low, high = cfg["thresholds"][name]
        return low, high
    if base is None or not math.isfinite(base):
        return None
    return base - cfg["default_tolerance"], base + cfg["default_tolerance"]


def metrics(analysis: dict[str, Any]) -> dict[str, float]:
    """Published metrics: the reference's short names (``DPPL``) for the first facet value, and
    ``<metric>_<facet>_<value>`` for any further one (their dimensions, flattened)."""
    out: dict[str, float] = {}
    first = True
    for facet, values in analysis["post_training_bias_metrics"]["facets"].items():
        for v in values:
            for m in v["metrics"]:
                if isinstance(m.get("value"), int | float) and math.isfinite(m["value"]):
                    key = m["name"] if first else f"{m['name']}_{facet}_{v['value_or_threshold']}"
                    out[key] = float(m["value"])
            first = False
    return out


__all__ = ["CHECK_TYPE", "LABEL", "PREDICTION", "PROBABILITY", "analyse", "disjoint", "metrics", "normal_interval", "parse_config"]
