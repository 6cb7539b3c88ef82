"""Event rules, schedules and the loop that drives them (EventBridge's role), and the CI/CD gate.

A package of its own rather than part of ``core/``: rules act on every other family (pipelines,
webhooks, callables) through a target registry, which ``core/`` must not depend on.
"""

from forgeml.rules._envelope import envelope, register_mapper
from forgeml.rules._pattern import Pattern, load_pattern
from forgeml.rules._schedules import ScheduleService, parse_expression
from forgeml.rules._service import RuleService
from forgeml.rules._targets import register_target_kind

__all__ = [
    "Pattern",
    "RuleService",
    "ScheduleService",
    "envelope",
    "load_pattern",
    "parse_expression",
    "register_mapper",
    "register_target_kind",
]
