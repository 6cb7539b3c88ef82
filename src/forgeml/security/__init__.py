"""Security: principals and API keys, groups, roles and sessions, IAM-style policies,
enforcement, request limits, endpoint-port guards, the audit trail, encryption at rest
(envelope encryption under master keys) and TLS in transit.

This file only re-exports names.
"""

from __future__ import annotations

from forgeml.security._audit import AuditLog, AuditRecord
from forgeml.security._envelope import CHUNK, MAGIC, DecryptionError, Envelope, is_sealed
from forgeml.security._guard import EndpointGuard
from forgeml.security._keys import (
    ENTRY_POINT_GROUP,
    ENV_VAR,
    EnvKeyProvider,
    FileKeyProvider,
    KeyProvider,
    check_permissions,
    key_file_path,
    key_provider,
)
from forgeml.security._limits import RateLimiter
from forgeml.security._lines import read_lines, seal_lines
from forgeml.security._policy import MANAGED, Decision, PolicyStore, evaluate, parse_policy
from forgeml.security._principals import ApiKey, NewKey, Principal, PrincipalStore
from forgeml.security._roles import Credentials, Group, Role, RoleStore, identity_policies
from forgeml.security._seal import (
    capture_envelope,
    envelope_for,
    open_sealed,
    plain_cache,
    plain_copy,
    read_secret,
    seal_secret,
)
from forgeml.security._tls import client_verify, dev_cert, server_options

__all__ = [
    "CHUNK",
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "MAGIC",
    "MANAGED",
    "ApiKey",
    "AuditLog",
    "AuditRecord",
    "Credentials",
    "Decision",
    "DecryptionError",
    "EndpointGuard",
    "EnvKeyProvider",
    "Envelope",
    "FileKeyProvider",
    "Group",
    "KeyProvider",
    "NewKey",
    "PolicyStore",
    "Principal",
    "PrincipalStore",
    "RateLimiter",
    "Role",
    "RoleStore",
    "capture_envelope",
    "check_permissions",
    "client_verify",
    "dev_cert",
    "envelope_for",
    "evaluate",
    "identity_policies",
    "is_sealed",
    "key_file_path",
    "key_provider",
    "open_sealed",
    "parse_policy",
    "plain_cache",
    "plain_copy",
    "read_lines",
    "read_secret",
    "seal_lines",
    "seal_secret",
    "server_options",
]
