"""The job state machine, shared by every job kind (SageMaker's TrainingJobStatus).

    Pending -> InProgress -> Completed | Failed | Stopping -> Stopped
    Pending -> Stopping | Failed          (stopped or lost before it started)
    Stopping -> Failed                    (its process died while stopping)
    InProgress -> InProgress             (restarted from a checkpoint after an interruption)
"""

from __future__ import annotations

from typing import Final

from forgeml.errors import InvalidTransitionError, ValidationError

PENDING: Final = "Pending"
IN_PROGRESS: Final = "InProgress"
COMPLETED: Final = "Completed"
FAILED: Final = "Failed"
STOPPING: Final = "Stopping"
STOPPED: Final = "Stopped"

STATUSES: Final = (PENDING, IN_PROGRESS, COMPLETED, FAILED, STOPPING, STOPPED)
TERMINAL: Final = frozenset({COMPLETED, FAILED, STOPPED})
ACTIVE: Final = (PENDING, IN_PROGRESS, STOPPING)

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    PENDING: frozenset({IN_PROGRESS, STOPPING, FAILED}),
    IN_PROGRESS: frozenset({IN_PROGRESS, COMPLETED, FAILED, STOPPING}),
    STOPPING: frozenset({STOPPED, FAILED}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
    STOPPED: frozenset(),
}

JOB_KINDS: Final = ("processing", "training", "tuning", "transform", "monitoring", "pipeline-step")


def check_transition(name: str, current: str, target: str) -> None:
    """Raise unless ``current -> target`` is a legal move for job ``name``.

    Raises:
        InvalidTransitionError: naming the job, both statuses and the legal targets.
    """
    if target not in TRANSITIONS:
        raise ValidationError(f"unknown job status {target!r} (expected one of {', '.join(STATUSES)})")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none: it has ended"
        raise InvalidTransitionError(
            f"job {name!r} cannot go from {current} to {target} (allowed: {allowed})"
        )

