"""Model approval status (SageMaker ``ModelApprovalStatus``) and its legal transitions.

    PendingManualApproval -> Approved | Rejected
    Approved              -> Rejected      (approval withdrawn, e.g. a problem found in production)
    Rejected              -> (none)

SageMaker itself lets any status be set at any time. ForgeML is stricter on purpose: a rejected
version stays rejected (its history would otherwise be ambiguous for audits and for CI/CD rules
that deploy on Approved); to try again, register the package as a new version. Setting the status
a version already has is refused too, so every accepted change is a real change with one event.
"""

from __future__ import annotations

from typing import Final

from forgeml.errors import InvalidTransitionError, ValidationError

PENDING: Final = "PendingManualApproval"
APPROVED: Final = "Approved"
REJECTED: Final = "Rejected"
APPROVAL_STATUSES: Final = (PENDING, APPROVED, REJECTED)

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    PENDING: frozenset({APPROVED, REJECTED}),
    APPROVED: frozenset({REJECTED}),
    REJECTED: frozenset(),
}


def check_status(status: str) -> str:
    """Raises ValidationError unless ``status`` is a ModelApprovalStatus."""
    if status not in APPROVAL_STATUSES:
        raise ValidationError(f"unknown approval status {status!r} (expected one of {', '.join(APPROVAL_STATUSES)})")
    return status


def check_approval_transition(ref: str, current: str, target: str) -> None:
    """Raise unless ``current -> target`` is allowed for the model version ``ref``.

    Raises:
        ValidationError: ``target`` is not an approval status.
        InvalidTransitionError: naming the version, both statuses and what is allowed.
    """
    check_status(target)
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none: a rejected version is final"
        raise InvalidTransitionError(f"{ref} cannot go from {current} to {target} (allowed: {allowed})")


__all__ = ["APPROVAL_STATUSES", "APPROVED", "PENDING", "REJECTED", "TRANSITIONS", "check_approval_transition", "check_status"]
