"""Security: encryption at rest (envelope encryption under master keys) and TLS in transit.

Other security modules (principals, policies, audit) live beside these; this file only
re-exports names.
"""

from __future__ import annotations

from forgeml.security._envelope import CHUNK, MAGIC, DecryptionError, Envelope, is_sealed
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
from forgeml.security._lines import read_lines, seal_lines
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
    "DecryptionError",
    "EnvKeyProvider",
    "Envelope",
    "FileKeyProvider",
    "KeyProvider",
    "capture_envelope",
    "check_permissions",
    "client_verify",
    "dev_cert",
    "envelope_for",
    "is_sealed",
    "key_file_path",
    "key_provider",
    "open_sealed",
    "plain_cache",
    "plain_copy",
    "read_lines",
    "read_secret",
    "seal_lines",
    "seal_secret",
    "server_options",
]
