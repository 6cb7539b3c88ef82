"""Clarify: pre- and post-training bias metrics and model explanations (SHAP, partial dependence)."""

from forgeml.clarify._common import BiasData, MetricUndefined, divide
from forgeml.clarify._explain import (
    AGG_METHODS,
    METHODS,
    Explanation,
    aggregate,
    explain,
    partial_dependence,
)
from forgeml.clarify._facets import Facet, Selector, parse_selector
from forgeml.clarify._posttraining import POSTTRAINING
from forgeml.clarify._pretraining import PRETRAINING
from forgeml.clarify._report import DESCRIPTIONS, bias_report
from forgeml.clarify._service import BIAS_KIND, EXPLANATION_KIND, ClarifyService

__all__ = [
    "AGG_METHODS",
    "BIAS_KIND",
    "DESCRIPTIONS",
    "EXPLANATION_KIND",
    "METHODS",
    "POSTTRAINING",
    "PRETRAINING",
    "BiasData",
    "ClarifyService",
    "Explanation",
    "Facet",
    "MetricUndefined",
    "Selector",
    "aggregate",
    "bias_report",
    "divide",
    "explain",
    "parse_selector",
    "partial_dependence",
]
