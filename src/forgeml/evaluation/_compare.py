"""Champion/challenger comparison: rules on metric values that yield pass or fail.

A rule names a metric and any of: ``min_value`` / ``max_value`` (absolute bounds on the
challenger) and ``max_regression`` (how much worse than the champion the challenger may be, in the
metric's own direction; 0 means "no worse"; a negative value demands an improvement). Lower is
better for losses and errors (``LOWER_IS_BETTER``), higher for everything else.
"""

from __future__ import annotations

from typing import Any

from forgeml.errors import ValidationError

LOWER_IS_BETTER = frozenset(
    {"log_loss", "brier_score", "mae", "mse", "rmse", "mape", "false_positive_rate", "false_negative_rate"}
)
RULE_KEYS = {"metric", "min_value", "max_value", "max_regression"}


def parse_rule(spec: str | dict[str, Any]) -> dict[str, Any]:
    """``{"metric": "auc", "max_regression": 0.01}`` or the text ``"auc>=0.7"``, ``"auc~0.01"``.

    In text, ``>=`` / ``<=`` give bounds and ``~`` the allowed regression.

    Raises:
        ValidationError: an unknown key or an unreadable rule.
    """
    if isinstance(spec, str):
        for op, key in ((">=", "min_value"), ("<=", "max_value"), ("~", "max_regression")):
            if op in spec:
                metric, _, raw = spec.partition(op)
                try:
                    return {"metric": metric.strip(), key: float(raw)}
                except ValueError:
                    raise ValidationError(f"rule {spec!r}: {raw!r} is not a number") from None
        return {"metric": spec.strip(), "max_regression": 0.0}
    unknown = set(spec) - RULE_KEYS
    if unknown or "metric" not in spec:
        raise ValidationError(f"rule {spec!r}: needs 'metric' and only {', '.join(sorted(RULE_KEYS))}")
    return dict(spec)


def compare(
    challenger: dict[str, float], champion: dict[str, float] | None, rules: list[str | dict[str, Any]]
) -> dict[str, Any]:
    """Judge the challenger's metrics against bounds and the champion's metrics.

    Args:
        challenger: scalar metrics of the new model (``headline(report)``).
        champion: scalar metrics of the current model, or None when there is none (regression
            checks then pass).
        rules: rule specs (see :func:`parse_rule`).

    Returns:
        ``{"passed": bool, "verdict": "pass"|"fail", "checks": [...]}``; a metric missing from
        the challenger fails its rule.
    """
    if not rules:
        raise ValidationError("a comparison needs at least one rule")
    checks = []
    for spec in rules:
        rule = parse_rule(spec)
        metric = rule["metric"]
        lower = metric in LOWER_IS_BETTER
        value = challenger.get(metric)
        check: dict[str, Any] = {"metric": metric, "challenger": value, "direction": "lower" if lower else "higher"}
        reasons: list[str] = []
        if value is None:
            reasons.append(f"challenger has no {metric!r}")
        else:
            if "min_value" in rule and value < rule["min_value"]:
                reasons.append(f"{metric} {value:.6g} < min {rule['min_value']:.6g}")
            if "max_value" in rule and value > rule["max_value"]:
                reasons.append(f"{metric} {value:.6g} > max {rule['max_value']:.6g}")
            if "max_regression" in rule and champion is not None:
                base = champion.get(metric)
                check["champion"] = base
                if base is None:
                    reasons.append(f"champion has no {metric!r}")
                else:
                    regression = (value - base) if lower else (base - value)
                    check["regression"] = regression
                    if regression > rule["max_regression"] + 1e-12:
                        reasons.append(f"{metric} regressed by {regression:.6g} (allowed {rule['max_regression']:.6g})")
        check.update({k: v for k, v in rule.items() if k != "metric"})
        check["passed"] = not reasons
        if reasons:
            check["reason"] = "; ".join(reasons)
        checks.append(check)
    passed = all(c["passed"] for c in checks)
    return {"passed": passed, "verdict": "pass" if passed else "fail", "checks": checks}


__all__ = ["LOWER_IS_BETTER", "compare", "parse_rule"]
