"""Jobs: one resource for every long-running kind, a state machine, and execution backends."""

from forgeml.core.jobs._backend import ExecutionBackend
from forgeml.core.jobs._context import JobContext
from forgeml.core.jobs._service import JobService, new_name, validate_name
from forgeml.core.jobs._states import JOB_KINDS, STATUSES, TERMINAL, TRANSITIONS, check_transition

__all__ = [
    "JOB_KINDS",
    "STATUSES",
    "TERMINAL",
    "TRANSITIONS",
    "ExecutionBackend",
    "JobContext",
    "JobService",
    "check_transition",
    "new_name",
    "validate_name",
]
