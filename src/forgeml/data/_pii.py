"""PII scanning over whole datasets and protection steps (DataBrew-style techniques).

Protection actions, each on one column (optionally only on the ``entities`` found inside free text):

* ``mask``: replace characters with ``*`` keeping the last ``keep_last`` (DataBrew MASK_CUSTOM).
* ``redact``: replace the value (or each entity) with ``[ENTITY]``.
* ``hash``: salted SHA-256, hex (one-way; the salt lives in the workspace).
* ``tokenize``: HMAC-SHA256 under a key kept in the workspace: deterministic, so joins and
  group-bys still work, and nobody without the key can recompute tokens (DataBrew CRYPTOGRAPHIC_HASH).
* ``null``: drop the values (DataBrew nulling).
* ``generalize``: numbers into bands of ``width`` (ages 30-39), dates truncated to ``date_part``
  (``year`` or ``month``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.data._pii_detect import ENTITIES, ColumnScan, find_entities
from forgeml.errors import ValidationError

if TYPE_CHECKING:
    from forgeml.security import Envelope

ACTIONS = ("mask", "redact", "hash", "tokenize", "null", "generalize")


def scan(data: Any, *, columns: list[str] | None = None, sample_rows: int | None = None, batch_rows: int = 65_536) -> dict[str, Any]:
    """Scan a frame or Parquet file for PII, column by column, in bounded batches.

    Args:
        data: a DataFrame or a Parquet file path.
        columns: only these columns (default: all).
        sample_rows: scan at most this many rows (default: all).

    Returns:
        ``{"rows", "columns": [per-column findings], "pii_columns": [...], "summary": {entity: rows}}``.

    Raises:
        ValidationError: a named column does not exist.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if hasattr(data, "columns") and hasattr(data, "iloc"):
        table = pa.Table.from_pandas(data, preserve_index=False)
        names = table.column_names
        batches = table.to_batches(max_chunksize=batch_rows)
    else:
        pf = pq.ParquetFile(str(data))
        names = pf.schema_arrow.names
        batches = pf.iter_batches(batch_size=batch_rows, columns=columns)
    wanted = columns or names
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ValidationError(f"PII scan: column(s) {', '.join(map(repr, missing))} not in the data")
    scans = {c: ColumnScan(c) for c in wanted}
    scanned: dict[str, bool] = {}
    rows = 0
    for batch in batches:
        take = batch.num_rows if sample_rows is None else min(batch.num_rows, sample_rows - rows)
        if take <= 0:
            break
        for c in wanted:
            col = batch.column(batch.schema.get_field_index(c)).slice(0, take)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_temporal(col.type):
                scanned[c] = True
                scans[c].feed(col.to_pylist())
            elif pa.types.is_integer(col.type) and (scans[c].ssn_hint or _maybe_card(col)):
                scanned[c] = True  # integers: cards and (by column name) SSNs only; see _pii_detect
                scans[c].feed(col.to_pylist())
        rows += take
    results = [scans[c].result(rows, scanned.get(c, False)) for c in wanted]
    summary: dict[str, int] = {}
    for r in results:
        for f in r["findings"]:
            summary[f["entity"]] = summary.get(f["entity"], 0) + f["rows"]
    return {"rows": rows, "columns": results, "pii_columns": [r["column"] for r in results if r["pii"]], "summary": summary}


def _maybe_card(col: Any) -> bool:
    import pyarrow.compute as pc

    big = pc.max(col).as_py()
    return big is not None and big >= 10**12  # only integers long enough to be card numbers


def workspace_secret(home: Path, name: str, envelope: Envelope | None = None) -> bytes:
    """A random 32-byte secret stored under ``<home>/secrets/`` (created once, mode 0600);
    sealed under the master key when ``envelope`` is given (``encryption_at_rest``)."""
    from forgeml.security import read_secret, seal_secret

    folder = home / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.key"
    if not path.exists():
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(seal_secret(envelope, os.urandom(32), name))
        try:
            os.link(tmp, path)  # first writer wins; others read its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return read_secret(envelope, path.read_bytes(), name, path)


def _text_action(action: str, text: str, entity: str, step: dict[str, Any], key: bytes, salt: bytes) -> str:
    if action == "mask":
        keep = int(step.get("keep_last", 4))
        char = str(step.get("mask_char", "*"))
        keep = min(keep, len(text))
        return char * (len(text) - keep) + text[len(text) - keep :]
    if action == "redact":
        return f"[{entity}]"
    if action == "hash":
        return hashlib.sha256(salt + text.encode()).hexdigest()
    if action == "tokenize":
        return "tok_" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]
    raise ValidationError(f"action {action!r} cannot apply to entities inside text")


def _check_step(step: dict[str, Any], columns: list[str], i: int) -> None:
    where = f"PII step {i + 1}"
    if step.get("column") not in columns:
        raise ValidationError(f"{where}: column {step.get('column')!r} not in the data")
    if step.get("action") not in ACTIONS:
        raise ValidationError(f"{where}: unknown action {step.get('action')!r} (known: {', '.join(ACTIONS)})")
    unknown = set(step) - {"column", "action", "entities", "keep_last", "mask_char", "width", "date_part"}
    if unknown:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    bad = [e for e in step.get("entities") or [] if e not in ENTITIES]
    if bad:
        raise ValidationError(f"{where}: unknown entit(ies) {', '.join(bad)} (known: {', '.join(ENTITIES)})")
    if step.get("entities") and step["action"] in ("null", "generalize"):
        raise ValidationError(f"{where}: action {step['action']!r} applies to whole values, not entities")
    if step.get("date_part") not in (None, "year", "month"):
        raise ValidationError(f"{where}: date_part must be 'year' or 'month'")


def protect(frame: Any, steps: list[dict[str, Any]], *, key: bytes, salt: bytes) -> tuple[Any, dict[str, Any]]:
    """Apply protection steps to a copy of ``frame``; returns ``(protected, report)``.

    Raises:
        ValidationError: unknown action/column/entity (checked before anything changes).
    """
    columns = [str(c) for c in frame.columns]
    for i, step in enumerate(steps):
        _check_step(step, columns, i)
    out = frame.copy()
    actions = []
    for step in steps:
        col, _action = step["column"], step["action"]
        series = out[col]
        before = series.copy()
        series = _apply_step(series, step, key, salt)
        out[col] = series
        same = (before.astype(object).to_numpy() == series.astype(object).to_numpy()) | (before.isna().to_numpy() & series.isna().to_numpy())
        changed = int((~same).sum())
        actions.append({**step, "values_changed": changed})
    return out, {"steps": actions, "rows": len(out)}


def _apply_step(series: Any, step: dict[str, Any], key: bytes, salt: bytes) -> Any:
    import pandas as pd

    action, entities = step["action"], step.get("entities")
    if action == "null":
        return pd.Series([None] * len(series), index=series.index, dtype=object)
    if action == "generalize":
        return _generalize(series, step)

    def whole(v: Any) -> Any:
        if v is None or (isinstance(v, float) and v != v):
            return v
        return _text_action(action, str(v), str(step["column"]).upper(), step, key, salt)

    def inside(v: Any) -> Any:
        if not isinstance(v, str):
            return v
        pieces, last = [], 0
        for entity, s, e in find_entities(v, entities):
            pieces.append(v[last:s])
            pieces.append(_text_action(action, v[s:e], entity, step, key, salt))
            last = e
        pieces.append(v[last:])
        return "".join(pieces)

    return series.map(inside if entities else whole)


def _generalize(series: Any, step: dict[str, Any]) -> Any:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series.dtype) or step.get("date_part"):
        ts = pd.to_datetime(series, errors="coerce")
        part = step.get("date_part", "year")
        text = ts.dt.strftime("%Y" if part == "year" else "%Y-%m")
        return pd.Series([None if pd.isna(t) else v for t, v in zip(ts, text, strict=True)], index=series.index, dtype=object)
    width = float(step.get("width", 10))
    if width <= 0:
        raise ValidationError("generalize: width must be > 0")
    nums = pd.to_numeric(series, errors="coerce")
    low = (nums // width) * width

    def band(lo: float) -> Any:
        if lo != lo:
            return None
        hi = lo + width - (1 if width.is_integer() else 0)
        fmt = (lambda v: str(int(v))) if width.is_integer() else (lambda v: f"{v:g}")
        return f"{fmt(lo)}-{fmt(hi)}"

    return low.map(band).astype(object)


def auto_steps(report: dict[str, Any], *, whole: str = "tokenize", text: str = "redact") -> list[dict[str, Any]]:
    """Default protection for a scan: tokenize wholly-PII columns, redact entities inside free text;
    dates of birth are generalized to the year."""
    steps = []
    for col in report["columns"]:
        if not col["findings"]:
            continue
        ents = [f["entity"] for f in col["findings"]]
        if "DATE_OF_BIRTH" in ents:
            steps.append({"column": col["column"], "action": "generalize", "date_part": "year"})
        elif all(f["whole_value"] for f in col["findings"]):
            steps.append({"column": col["column"], "action": whole})
        else:
            steps.append({"column": col["column"], "action": text, "entities": ents})
    return steps


__all__ = ["ACTIONS", "auto_steps", "protect", "scan", "workspace_secret"]
