"""Bounded types for what arrives over HTTP, shared by every router.

Python's ``int`` is unbounded, but SQLite, NumPy and the JSON a browser reads are not: an
integer of 2**64 used to reach the database and fail with ``OverflowError`` (a 500). Every integer
a route takes is one of these types, so pydantic refuses an out-of-range value with a 400 naming
the field, and the OpenAPI spec states the range (``tests/api/test_spec.py`` fails on any integer
parameter or body field without both bounds).
"""

from __future__ import annotations

from typing import Annotated, Any

import annotated_types as at
from pydantic import BeforeValidator

# The largest integer JSON carries exactly (JavaScript's Number.MAX_SAFE_INTEGER), below SQLite's
# and NumPy's 2**63 - 1.
MAX_INT = 2**53 - 1
MIN_INT = -MAX_INT


def _not_bool(value: Any) -> Any:
    """``true`` is not the integer 1 (pydantic's lax mode would take it as one)."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, not a boolean")
    return value


_NOT_BOOL = BeforeValidator(_not_bool)

Int = Annotated[int, at.Ge(MIN_INT), at.Le(MAX_INT), _NOT_BOOL]
"""Any integer a client may send (a step, an offset that may be negative)."""

Count = Annotated[int, at.Ge(0), at.Le(MAX_INT), _NOT_BOOL]
"""A count, limit or offset: 0 or more."""

Positive = Annotated[int, at.Ge(1), at.Le(MAX_INT), _NOT_BOOL]
"""A size or count of at least 1."""

Version = Annotated[int, at.Ge(1), at.Le(MAX_INT), _NOT_BOOL]
"""A resource version number: versions start at 1."""

Seed = Annotated[int, at.Ge(0), at.Le(2**32 - 1), _NOT_BOOL]
"""A random seed: NumPy takes 0 to 2**32 - 1."""

__all__ = ["MAX_INT", "MIN_INT", "Count", "Int", "Positive", "Seed", "Version"]
