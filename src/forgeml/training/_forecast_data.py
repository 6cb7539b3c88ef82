"""DeepAR's input: JSON Lines series (``start``, ``target``, ``cat``, ``dynamic_feat``), checked.

One JSON object per line: ``start`` (``"YYYY-MM-DD HH:MM:SS"`` or ``"YYYY-MM-DD"``, no time zone),
``target`` (numbers; ``null`` or ``"NaN"`` is missing), optional ``cat`` (non-negative integers,
the same count in every series) and optional ``dynamic_feat`` (a list of arrays, the same count in
every series, no missing values, each as long as ``target`` or ``prediction_length`` longer).
Every error names the file, the line and what is wrong; nothing is trained on a bad file.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from forgeml.errors import ValidationError

SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
_FREQ = re.compile(r"^(\d*)(M|W|D|H|min)$")


@dataclass(frozen=True)
class Series:
    """One parsed series."""

    start: str
    target: np.ndarray
    cat: tuple[int, ...]
    dynamic_feat: np.ndarray  # [n_feat, length]


def check_freq(freq: str) -> str:
    """A DeepAR ``time_freq`` (``M``, ``W``, ``D``, ``H``, ``min`` or a multiple like ``5min``).

    Raises:
        ValidationError: any other value.
    """
    if not isinstance(freq, str) or not _FREQ.match(freq):
        raise ValidationError(f"time_freq must be M, W, D, H, min or a multiple such as 5min (got {freq!r})")
    return freq


def check_channels(channels: dict[str, dict[str, Any]], hp: dict[str, Any]) -> None:
    """At job creation: every channel is a path of JSON Lines files whose series all parse.

    Raises:
        ValidationError: a dataset channel, a folder without ``.json``/``.jsonl`` files, or a bad
            series (see :func:`read_series`).
    """
    for name, source in channels.items():
        if source.get("type") != "path":
            raise ValidationError(f"deepar reads JSON Lines series: channel {name!r} must be a path to .json/.jsonl files, not a dataset")
        if not files(Path(source["path"])):
            raise ValidationError(f"channel {name!r} holds no {'/'.join(SUFFIXES)} file")
        read_series(Path(source["path"]), context_length=hp["context_length"], prediction_length=hp["prediction_length"], label=name)


def files(path: Path) -> list[Path]:
    """The JSON Lines files of a channel (names starting with ``.`` or ``_`` skipped)."""
    if path.is_file():
        return [path] if path.name.endswith(SUFFIXES) else []
    return sorted(
        p for p in path.rglob("*")
        if p.is_file() and p.name.endswith(SUFFIXES) and not p.name.startswith((".", "_"))
    )  # fmt: skip


def _start(value: Any, where: str) -> str:
    if value is None:
        raise ValidationError(f"{where}: missing 'start' (a timestamp 'YYYY-MM-DD HH:MM:SS')")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            datetime.strptime(str(value), fmt)
            return str(value)
        except ValueError:
            continue
    raise ValidationError(f"{where}: 'start' {value!r} is not a timestamp 'YYYY-MM-DD HH:MM:SS'")


def _number(v: Any) -> float:
    if v is None or v == "NaN":
        return math.nan
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(v)
    return float(v)


def parse_record(record: Any, where: str, prediction_length: int) -> Series:
    """One line's series, checked (see the module docstring).

    Raises:
        ValidationError: naming ``where`` and the field.
    """
    if not isinstance(record, dict):
        raise ValidationError(f"{where}: expected a JSON object with 'start' and 'target'")
    start = _start(record.get("start"), where)
    raw = record.get("target")
    if not isinstance(raw, list) or not raw:
        raise ValidationError(f"{where}: 'target' must be a non-empty list of numbers")
    try:
        target = np.array([_number(v) for v in raw], dtype=float)
    except TypeError as exc:
        raise ValidationError(f"{where}: 'target' holds {exc.args[0]!r}, not a number (null or \"NaN\" for missing)") from None
    cat = record.get("cat", [])
    if not isinstance(cat, list) or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cat):
        raise ValidationError(f"{where}: 'cat' must be a list of non-negative integers (got {cat!r})")
    feats = record.get("dynamic_feat", [])
    if not isinstance(feats, list) or not all(isinstance(f, list) for f in feats):
        raise ValidationError(f"{where}: 'dynamic_feat' must be a list of arrays")
    lengths = sorted({len(f) for f in feats})
    if len(lengths) > 1:
        raise ValidationError(f"{where}: 'dynamic_feat' is ragged: its arrays have lengths {lengths}")
    if lengths and lengths[0] not in (len(target), len(target) + prediction_length):
        raise ValidationError(
            f"{where}: 'dynamic_feat' arrays have {lengths[0]} values; they must match 'target' ({len(target)}) "
            f"or be prediction_length longer ({len(target) + prediction_length})"
        )
    try:
        dyn = np.array([[float(v) for v in f] for f in feats], dtype=float).reshape(len(feats), -1)
    except (TypeError, ValueError):
        raise ValidationError(f"{where}: 'dynamic_feat' holds a value that is not a number (no missing values allowed)") from None
    if np.isnan(dyn).any():
        raise ValidationError(f"{where}: 'dynamic_feat' holds a missing value (none allowed)")
    return Series(start, target, tuple(cat), dyn)


def read_series(path: Path, *, context_length: int, prediction_length: int, label: str) -> list[Series]:
    """Every series of a channel, checked for one shape across series and enough history.

    Raises:
        ValidationError: a bad line, differing ``cat``/``dynamic_feat`` counts, or a series
            shorter than ``context_length + prediction_length``.
    """
    out: list[Series] = []
    shape: tuple[int, int] | None = None
    need = context_length + prediction_length
    for f in files(path):
        opener: Any = gzip.open if f.name.endswith(".gz") else open
        with opener(f, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                where = f"{label} channel, {f.name} line {n}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"{where}: not JSON ({exc.msg})") from None
                s = parse_record(record, where, prediction_length)
                if shape is None:
                    shape = (len(s.cat), len(s.dynamic_feat))
                elif (len(s.cat), len(s.dynamic_feat)) != shape:
                    raise ValidationError(
                        f"{where}: {len(s.cat)} cat values and {len(s.dynamic_feat)} dynamic_feat arrays; "
                        f"the first series had {shape[0]} and {shape[1]}"
                    )
                if len(s.target) < need:
                    raise ValidationError(
                        f"{where}: the series has {len(s.target)} observations, shorter than context_length + "
                        f"prediction_length = {context_length} + {prediction_length}"
                    )
                out.append(s)
    if not out:
        raise ValidationError(f"the {label} channel holds no series")
    return out


__all__ = ["SUFFIXES", "Series", "check_channels", "check_freq", "files", "parse_record", "read_series"]
