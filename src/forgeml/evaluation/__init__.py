"""Evaluation: classification and regression metrics, curves, cost-based thresholds,
cross-validation, champion/challenger gates, HTML reports and model cards."""

from forgeml.evaluation._card import build_card, card_html, card_markdown
from forgeml.evaluation._classification import binary_metrics, multiclass_metrics
from forgeml.evaluation._compare import LOWER_IS_BETTER, compare, parse_rule
from forgeml.evaluation._curves import calibration, pr_curve, roc_curve_points, select_threshold
from forgeml.evaluation._cv import cross_validate
from forgeml.evaluation._html import render_report
from forgeml.evaluation._model import evaluate_model, headline
from forgeml.evaluation._regression import regression_metrics
from forgeml.evaluation._service import EvaluationService

__all__ = [
    "LOWER_IS_BETTER",
    "EvaluationService",
    "binary_metrics",
    "build_card",
    "calibration",
    "card_html",
    "card_markdown",
    "compare",
    "cross_validate",
    "evaluate_model",
    "headline",
    "multiclass_metrics",
    "parse_rule",
    "pr_curve",
    "regression_metrics",
    "render_report",
    "roc_curve_points",
    "select_threshold",
]
