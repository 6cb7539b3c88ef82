"""The ``Idempotency-Key`` request header of the record and upload routes, and the replay mark."""

from __future__ import annotations

from typing import Any

from fastapi import Header, Response

IDEMPOTENCY_KEY: Any = Header(
    None,
    alias="Idempotency-Key",
    description="Makes a retry safe (IETF httpapi draft): the same key and body get the first answer, "
    "marked `Idempotent-Replayed: true`, and write nothing; the key with another body is a 422.",
)


def parse(value: str | None) -> Any:
    """The header as an :class:`~forgeml.core.idempotency.IdempotencyKey` (None when absent)."""
    from forgeml.core.idempotency import parse_header

    return parse_header(value)


def mark_replay(key: Any, response: Response) -> None:
    """Add ``Idempotent-Replayed: true`` when the answer was the stored one."""
    from forgeml.core.idempotency import REPLAY_HEADER

    if key is not None and key.replayed:
        response.headers[REPLAY_HEADER] = "true"
