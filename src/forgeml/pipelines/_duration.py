"""ISO-8601 durations for ``CacheConfig.ExpireAfter`` (``PT1H``, ``P30D``, ``P1Y2M3DT4H5M6S``, ``P2W``).

SageMaker's docs also show the short form ``30d``; it is accepted (one number and one of
``s m h d w``). Years and months have no fixed length: they count as 365 and 30 days.
"""

from __future__ import annotations

import re

from forgeml.errors import ValidationError

_ISO = re.compile(
    r"^P(?:(?P<Y>\d+(?:\.\d+)?)Y)?(?:(?P<M>\d+(?:\.\d+)?)M)?(?:(?P<W>\d+(?:\.\d+)?)W)?(?:(?P<D>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_SHORT = re.compile(r"^(\d+)([smhdw])$")
_SECONDS = {"Y": 365 * 86400, "M": 30 * 86400, "W": 7 * 86400, "D": 86400, "h": 3600, "m": 60, "s": 1}
_SHORT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration.

    Raises:
        ValidationError: not a duration (or a zero one).
    """
    if not isinstance(text, str):
        raise ValidationError(f"{text!r} is not an ISO-8601 duration such as PT1H or P30D")
    short = _SHORT.match(text)
    if short:
        seconds = float(int(short.group(1)) * _SHORT_SECONDS[short.group(2)])
    else:
        match = _ISO.match(text.upper()) if text.startswith(("P", "p")) else None
        if match is None or text.upper() in ("P", "PT") or text.upper().endswith("T"):
            raise ValidationError(f"{text!r} is not an ISO-8601 duration such as PT1H or P30D")
        seconds = sum(float(v) * _SECONDS[k] for k, v in match.groupdict().items() if v)
    if seconds <= 0:
        raise ValidationError(f"{text!r} is a zero duration")
    return seconds


__all__ = ["parse_duration"]
