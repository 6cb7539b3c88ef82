"""Security: principals and API keys, IAM-style policies, enforcement and the audit trail."""

from forgeml.security._audit import AuditLog, AuditRecord
from forgeml.security._policy import MANAGED, Decision, PolicyStore, evaluate, parse_policy
from forgeml.security._principals import ApiKey, NewKey, Principal, PrincipalStore

__all__ = [
    "MANAGED",
    "ApiKey",
    "AuditLog",
    "AuditRecord",
    "Decision",
    "NewKey",
    "PolicyStore",
    "Principal",
    "PrincipalStore",
    "evaluate",
    "parse_policy",
]
