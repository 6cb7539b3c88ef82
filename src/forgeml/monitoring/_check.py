"""Data-quality checks of a window against a baseline: ``constraint_violations.json`` (§10.5).

The six ``constraint_check_type`` values: ``data_type_check``, ``completeness_check``,
``baseline_drift_check``, ``missing_column_check``, ``extra_column_check`` and
``categorical_values_check``. A feature's thresholds and methods come from its
``monitoringConfigOverrides``, else ``monitoring_config``. ``evaluate_constraints: Disabled``
turns off the type, completeness, non-negative and domain checks; ``perform_comparison:
Disabled`` turns off drift. A numeric feature constrained ``is_non_negative`` that receives
negative values is reported as a ``data_type_check`` (Model Monitor has no seventh type).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from forgeml.monitoring._constraints import Constraints
from forgeml.monitoring._drift import chi_squared, ks_distance, linf_categorical, robust
from forgeml.monitoring._profile import Profile

NUMERIC = ("Integral", "Fractional")


@dataclass
class CheckResult:
    """Violations, per-feature metrics (``feature_baseline_drift_<f>``, ``feature_non_null_<f>``)
    and per-feature drift details for the report."""

    violations: list[dict[str, str]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    drift: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, feature: str, check: str, description: str) -> None:
        self.violations.append({"feature_name": feature, "constraint_check_type": check, "description": description})


def _stats(feature: dict[str, Any]) -> dict[str, Any]:
    return feature.get("numerical_statistics") or feature.get("string_statistics") or {}


def _counts(feature: dict[str, Any]) -> dict[str, float]:
    buckets = _stats(feature).get("distribution", {}).get("categorical", {}).get("buckets", [])
    return {str(b["value"]): float(b["count"]) for b in buckets}


def _levels(feature: dict[str, Any]) -> list[list[float]]:
    return _stats(feature).get("distribution", {}).get("kll", {}).get("sketch", {}).get("data", [])


def _present(feature: dict[str, Any]) -> int:
    return int(_stats(feature).get("common", {}).get("num_present", 0))


def _pct(x: float) -> str:
    return f"{100 * x:.4g}%"


def check(baseline: dict[str, Any], constraints: Constraints, window: Profile) -> CheckResult:
    """Compare a window's profile with a baseline's statistics under ``constraints``."""
    result = CheckResult()
    base_features = {f["name"]: f for f in baseline.get("features", [])}
    names = list(base_features) or [f.name for f in constraints.features]
    current = window.statistics()
    current_features = {f["name"]: f for f in current["features"]}
    missing = [n for n in names if n not in window.columns]
    extra = [n for n in window.columns if n not in base_features and constraints.feature(n) is None]
    for name in missing:
        result.add(name, "missing_column_check",
                   f"Baseline has {len(names)} columns, current data has {len(names) - len(missing) + len(extra)}: column {name!r} is missing")  # fmt: skip
    for name in extra:
        result.add(name, "extra_column_check",
                   f"Baseline has {len(names)} columns, current data has {len(names) - len(missing) + len(extra)}: column {name!r} is extra")  # fmt: skip
    evaluate = constraints.monitoring_config.evaluate_constraints == "Enabled"
    compare = constraints.monitoring_config.distribution_constraints.perform_comparison == "Enabled"
    for name in names:
        if name not in window.columns:
            continue
        col = window.columns[name]
        fc = constraints.feature(name)
        base = base_features.get(name)
        base_type = fc.inferred_type if fc else (base["inferred_type"] if base else "Unknown")
        total = col.present + col.missing
        completeness = col.present / total if total else math.nan
        result.metrics[f"feature_non_null_{name}"] = completeness
        if evaluate and fc is not None:
            _type_checks(result, constraints, fc, name, base_type, col)
            if fc.completeness is not None and total and completeness < fc.completeness:
                result.add(name, "completeness_check",
                           f"Data completeness is {_pct(completeness)}, below the baseline constraint of {_pct(fc.completeness)}")  # fmt: skip
        if compare and base is not None and col.present:
            _drift(result, constraints, fc, name, base, base_type, current_features[name], col.numbers, col.text)
    return result


def _type_checks(result: CheckResult, constraints: Constraints, fc: Any, name: str, base_type: str, col: Any) -> None:
    if col.present:
        bad = col.nonconforming(base_type) / col.present
        limit = constraints.setting(fc, "datatype_check_threshold")
        if bad > limit:
            result.add(name, "data_type_check",
                       f"Data type match requirement is not met: {_pct(bad)} of values are not {base_type} (threshold {_pct(limit)})")  # fmt: skip
    if base_type in NUMERIC and fc.num_constraints and fc.num_constraints.is_non_negative and col.numbers.n and col.numbers.min < 0:
        result.add(name, "data_type_check", f"Feature is constrained non-negative, but its minimum is {col.numbers.min:g}")
    domains = fc.string_constraints.domains if fc.string_constraints else None
    if base_type == "String" and domains is not None and col.present:
        allowed = set(domains)
        unknown = {v: n for v, n in col.text.counts.items() if v not in allowed}
        share = (sum(unknown.values()) + col.text.other) / col.present
        limit = constraints.setting(fc, "domain_content_threshold")
        if share > limit:
            shown = ", ".join(repr(v) for v in sorted(unknown, key=lambda v: -unknown[v])[:5])
            result.add(name, "categorical_values_check",
                       f"{_pct(share)} of values are outside the baseline domain (threshold {_pct(limit)}): {shown}")  # fmt: skip


def _drift(result: CheckResult, constraints: Constraints, fc: Any, name: str, base: dict[str, Any], base_type: str,
           current: dict[str, Any], window_numbers: Any, window_text: Any) -> None:  # fmt: skip
    n, m = _present(base), _present(current)
    if base_type in NUMERIC:
        if not window_numbers.n or "numerical_statistics" not in base:
            return
        m = window_numbers.n  # only the window's numbers are compared (text is a data_type_check)
        method = constraints.setting(fc, "comparison_method")
        raw = ks_distance(_levels(base), window_numbers.levels())
        value = robust(raw, n, m) if method == "Robust" else raw
        limit = constraints.setting(fc, "comparison_threshold")
        detail = {"type": "numeric", "method": method, "distance": value, "raw_distance": raw, "threshold": limit}
        violated = not math.isnan(value) and value > limit
    else:
        method = constraints.setting(fc, "categorical_drift_method")
        limit = constraints.setting(fc, "categorical_comparison_threshold")
        a = _counts(base)
        b = {k: float(v) for k, v in window_text.counts.items()}  # every value as text, whatever the window's type
        if method == "ChiSquared":
            value = chi_squared(b, a)
            raw = value
            violated = not math.isnan(value) and value < limit
        else:
            raw = linf_categorical(a, b)
            comparison = constraints.setting(fc, "comparison_method")
            value = robust(raw, n, m) if comparison == "Robust" else raw
            violated = not math.isnan(value) and value > limit
        detail = {"type": "categorical", "method": method, "distance": value, "raw_distance": raw, "threshold": limit}
    result.drift[name] = detail
    if not math.isnan(value):
        result.metrics[f"feature_baseline_drift_{name}"] = value
    if violated:
        word = "p-value" if detail["method"] == "ChiSquared" else "distance"
        side = "below" if detail["method"] == "ChiSquared" else "exceeds"
        result.add(name, "baseline_drift_check",
                   f"Baseline drift {word} {value:.4g} ({detail['method']}) {side} the threshold {limit:g}")  # fmt: skip


__all__ = ["CheckResult", "check"]
