"""Debugger-style rules evaluated on a job's metric and tensor series, during and after training.

SageMaker Debugger evaluates rules on tensors a training job saves; here a rule reads the metric
series the job emits (built-ins emit ``train:*`` / ``validation:*`` per iteration; script-mode jobs
emit whatever their metric definitions capture, e.g. ``gradients/fc1`` as a mean absolute
gradient). Each rule has SageMaker's name, parameters (defaults from smdebug's rule configs) and
the status values ``InProgress`` -> ``NoIssuesFound`` | ``IssuesFound`` | ``Error``; a rule with the
``StopTraining`` action stops the job when it finds an issue.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forgeml.errors import ValidationError
from forgeml.training._hyperparams import Param, validate_hyperparameters

IN_PROGRESS, NO_ISSUES, ISSUES, ERROR = "InProgress", "NoIssuesFound", "IssuesFound", "Error"
ACTIONS = ("StopTraining",)
Series = dict[str, list[tuple[int, float]]]

RULE_PARAMS: dict[str, tuple[Param, ...]] = {
    "LossNotDecreasing": (
        Param("metric_regex", "str", r"^train:.*(loss|rmse|mse|mae|msd)", help="series holding the loss"),
        Param("num_steps", "int", 10, 1, None, help="compare the loss with its value this many steps earlier"),
        Param("diff_percent", "float", 0.1, 0, 100, help="minimum decrease, in percent"),
    ),
    "Overfit": (
        Param("loss", "str", "auto", help="loss name shared by train:<loss> and validation:<loss> (auto: first found)"),
        Param("start_step", "int", 0, 0, None, help="ignore earlier steps"),
        Param("patience", "int", 1, 1, None, help="steps the gap must persist"),
        Param("ratio_threshold", "float", 0.1, 0, None, help="max (mean validation - mean train) / mean train loss, means from start_step on"),
    ),
    "Overtraining": (
        Param("loss", "str", "auto", help="loss name shared by train:<loss> and validation:<loss>"),
        Param("patience_train", "int", 5, 1, None, help="steps the training loss may stall"),
        Param("patience_validation", "int", 10, 1, None, help="steps the validation loss may stall"),
        Param("delta", "float", 0.01, 0, None, help="minimum improvement that counts"),
    ),
    "ClassImbalance": (
        Param("threshold_imbalance", "float", 10.0, 1, None, help="max ratio of the largest to the smallest class"),
        Param("threshold_misprediction", "float", 0.7, 0, 1, help="max misprediction fraction of any class"),
    ),
    "VanishingGradient": (
        Param("tensor_regex", "str", r"grad", help="series holding gradient magnitudes"),
        Param("threshold", "float", 1e-7, 0, None, help="mean absolute gradient below this vanishes"),
    ),
    "ExplodingTensor": (
        Param("tensor_regex", "str", r".*", help="series to watch"),
        Param("only_nan", "bool", False, help="flag NaN only (not infinities)"),
    ),
}
RULES = tuple(RULE_PARAMS)


def normalize_rules(rules: list[Any] | None) -> list[dict[str, Any]]:
    """Rule configurations in canonical form ``{"name", "rule", "parameters", "actions"}``.

    Accepts a rule name or ``{"name"?, "rule", "parameters"?, "actions"?}`` per entry.

    Raises:
        ValidationError: an unknown rule, parameter or action, a bad value, or more than 20 rules.
    """
    out: list[dict[str, Any]] = []
    for entry in rules or ():
        spec = {"rule": entry} if isinstance(entry, str) else dict(entry) if isinstance(entry, dict) else None
        if spec is None:
            raise ValidationError(f"a rule must be a name or a dict, got {entry!r}")
        rule = spec.get("rule") or spec.get("name")
        if rule not in RULE_PARAMS:
            raise ValidationError(f"unknown debugger rule {rule!r} (built-in: {', '.join(RULES)})")
        params = validate_hyperparameters(f"rule {rule}", RULE_PARAMS[rule], spec.get("parameters"))
        for key in ("metric_regex", "tensor_regex"):
            if key in params:
                try:
                    re.compile(params[key])
                except re.error as exc:
                    raise ValidationError(f"rule {rule}: {key} is not a valid regex: {exc}") from None
        actions = list(spec.get("actions") or [])
        bad = [a for a in actions if a not in ACTIONS]
        if bad:
            raise ValidationError(f"rule {rule}: unknown action(s) {bad} (allowed: {', '.join(ACTIONS)})")
        out.append({"name": spec.get("name") or rule, "rule": rule, "parameters": params, "actions": actions})
    if len(out) > 20:
        raise ValidationError("at most 20 debugger rules per training job")
    names = [r["name"] for r in out]
    if len(set(names)) != len(names):
        raise ValidationError("debugger rule names must be unique")
    return out


def _loss_pair(series: Series, loss: str) -> tuple[str, str] | None:
    if loss != "auto":
        pair = (f"train:{loss}", f"validation:{loss}")
        return pair if all(k in series for k in pair) else None
    for key in sorted(series):
        if key.startswith("train:") and re.search("loss|rmse|mse|mae|msd", key):
            other = "validation:" + key.split(":", 1)[1]
            if other in series:
                return key, other
    return None


def _loss_not_decreasing(series: Series, p: dict[str, Any], facts: dict[str, Any]) -> str | None:
    n = p["num_steps"]
    for key in sorted(k for k in series if re.search(p["metric_regex"], k)):
        values = [v for _, v in series[key]]
        for end in range(n, len(values), n):
            before, after = values[end - n], values[end]
            if after > before - abs(before) * p["diff_percent"] / 100:
                return f"{key} went from {before:.6g} to {after:.6g} over {n} steps (needs a {p['diff_percent']:g}% decrease)"
    return None


def _overfit(series: Series, p: dict[str, Any], facts: dict[str, Any]) -> str | None:
    """SageMaker Debugger's Overfit: the mean validation loss against the mean training loss.

    At every step from ``start_step`` on (where both losses were recorded) the rule compares the
    means of both losses over the steps seen so far, ``start_step`` up to that step:
    ``ratio = (mean validation - mean training) / mean training``. It fires once the ratio has
    exceeded ``ratio_threshold`` at ``patience`` consecutive steps. A single step's gap (a boosted
    model's last rounds fit the training rows ever closer) does not decide it: the window does.
    """
    pair = _loss_pair(series, p["loss"])
    if pair is None:
        return None
    train, val = dict(series[pair[0]]), dict(series[pair[1]])
    run, sum_train, sum_val, first = 0, 0.0, 0.0, None
    for step in sorted(set(train) & set(val)):
        if step < p["start_step"] or not (math.isfinite(train[step]) and math.isfinite(val[step])):
            continue
        first = step if first is None else first
        sum_train, sum_val = sum_train + train[step], sum_val + val[step]
        if sum_train == 0:
            continue
        ratio = (sum_val - sum_train) / abs(sum_train)  # the means share their count: the sums' ratio is theirs
        run = run + 1 if ratio > p["ratio_threshold"] else 0
        if run >= p["patience"]:
            return (f"mean {pair[1]} exceeds mean {pair[0]} by {ratio:.1%} over steps {first}-{step} "
                    f"(ratio_threshold {p['ratio_threshold']:g}, patience {p['patience']})")  # fmt: skip
    return None


def _stalled(values: list[float], patience: int, delta: float) -> int | None:
    best, since = math.inf, 0
    for i, v in enumerate(values):
        if v < best - delta:
            best, since = v, 0
        else:
            since += 1
            if since >= patience:
                return i
    return None


def _overtraining(series: Series, p: dict[str, Any], facts: dict[str, Any]) -> str | None:
    pair = _loss_pair(series, p["loss"])
    if pair is None:
        return None
    for key, patience in ((pair[1], p["patience_validation"]), (pair[0], p["patience_train"])):
        at = _stalled([v for _, v in series[key]], patience, p["delta"])
        if at is not None:
            return f"{key} has not improved by {p['delta']:g} for {patience} steps (at point {at})"
    return None


def _class_imbalance(series: Series, p: dict[str, Any], facts: dict[str, Any]) -> str | None:
    counts: dict[str, int] = facts.get("class_counts") or {}
    if len(counts) >= 2:
        ratio = max(counts.values()) / max(min(counts.values()), 1)
        if ratio > p["threshold_imbalance"]:
            return f"largest/smallest class ratio {ratio:.1f} exceeds {p['threshold_imbalance']:g} (counts {counts})"
    for label, frac in (facts.get("misprediction") or {}).items():
        if frac > p["threshold_misprediction"]:
            return f"class {label} is mispredicted {frac:.0%} of the time (threshold {p['threshold_misprediction']:.0%})"
    return None


def _vanishing_gradient(series: Series, p: dict[str, Any], facts: dict[str, Any]) -> str | None:
    for key in sorted(k for k in series if re.search(p["tensor_regex"], k)):
        for step, v in series[key]:
            if math.isfinite(v) and abs(v) < p["threshold"]:
                return f"{key} = {v:.3g} at step {step} is below {p['threshold']:g}"
    return None


def _exploding_tensor(series: Series, p: dict[str, Any], facts: dict[str, Any]) -> str | None:
    for key in sorted(k for k in series if re.search(p["tensor_regex"], k)):
        for step, v in series[key]:
            if math.isnan(v) or (not p["only_nan"] and math.isinf(v)):
                return f"{key} is {v} at step {step}"
    return None


_CHECKS: dict[str, Callable[[Series, dict[str, Any], dict[str, Any]], str | None]] = {
    "LossNotDecreasing": _loss_not_decreasing,
    "Overfit": _overfit,
    "Overtraining": _overtraining,
    "ClassImbalance": _class_imbalance,
    "VanishingGradient": _vanishing_gradient,
    "ExplodingTensor": _exploding_tensor,
}


@dataclass
class RuleEngine:
    """Holds a job's series in memory and the status of each configured rule."""

    rules: list[dict[str, Any]]
    series: Series = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.rules:
            self.statuses[r["name"]] = {
                "RuleConfigurationName": r["name"], "RuleEvaluationStatus": IN_PROGRESS,
                "StatusDetails": None, "LastModifiedTime": time.time(),
            }  # fmt: skip

    def add(self, key: str, value: float, step: int) -> None:
        self.series.setdefault(key, []).append((int(step), float(value)))

    def evaluate(self) -> list[dict[str, Any]]:
        """Run every rule still in progress; return the rules that just found an issue."""
        fired = []
        for r in self.rules:
            status = self.statuses[r["name"]]
            if status["RuleEvaluationStatus"] != IN_PROGRESS:
                continue
            try:
                detail = _CHECKS[r["rule"]](self.series, r["parameters"], self.facts)
            except Exception as exc:  # a broken rule must not break training
                status.update(RuleEvaluationStatus=ERROR, StatusDetails=f"{type(exc).__name__}: {exc}", LastModifiedTime=time.time())
                continue
            if detail:
                status.update(RuleEvaluationStatus=ISSUES, StatusDetails=detail, LastModifiedTime=time.time())
                fired.append(r)
        return fired

    def should_stop(self, fired: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((r for r in fired if "StopTraining" in r["actions"]), None)

    def finish(self) -> list[dict[str, Any]]:
        """Final evaluation: rules without issues become NoIssuesFound."""
        self.evaluate()
        for status in self.statuses.values():
            if status["RuleEvaluationStatus"] == IN_PROGRESS:
                status.update(RuleEvaluationStatus=NO_ISSUES, LastModifiedTime=time.time())
        return self.summary()

    def summary(self) -> list[dict[str, Any]]:
        return [dict(s) for s in self.statuses.values()]


__all__ = ["ACTIONS", "RULES", "RULE_PARAMS", "RuleEngine", "normalize_rules"]
