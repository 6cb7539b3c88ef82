"""Model monitoring: baselines (statistics.json, constraints.json) and data-quality checks of
captured traffic (constraint_violations.json), as SageMaker Model Monitor writes them."""

from forgeml.monitoring._capture_read import CaptureCounts, CaptureReader, capture_files
from forgeml.monitoring._check import CheckResult, check
from forgeml.monitoring._constraints import Constraints, suggest
from forgeml.monitoring._constraints import load as load_constraints
from forgeml.monitoring._constraints import parse as parse_constraints
from forgeml.monitoring._drift import C_ALPHA, chi_squared, ks_distance, linf_categorical, robust
from forgeml.monitoring._jobs import BASELINE_KIND, EXECUTION_KIND
from forgeml.monitoring._profile import Profile
from forgeml.monitoring._schedule import daily, hourly, parse_cron
from forgeml.monitoring._scheduler import Scheduler
from forgeml.monitoring._service import MonitoringService
from forgeml.monitoring._sketch import NumericSummary, rank_error

__all__ = [
    "BASELINE_KIND",
    "C_ALPHA",
    "EXECUTION_KIND",
    "CaptureCounts",
    "CaptureReader",
    "CheckResult",
    "Constraints",
    "MonitoringService",
    "NumericSummary",
    "Profile",
    "Scheduler",
    "capture_files",
    "check",
    "chi_squared",
    "daily",
    "hourly",
    "ks_distance",
    "linf_categorical",
    "load_constraints",
    "parse_constraints",
    "parse_cron",
    "rank_error",
    "robust",
    "suggest",
]
