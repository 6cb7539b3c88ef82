"""Request and response bodies: CSV, JSON and JSON Lines, checked against the model signature.

Parsing turns a body into rows (lists of Python values in the signature's column order) and
checks every value against its column's type, so a bad request is refused with a message that
names the row and column before the model sees it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

import orjson

from forgeml.errors import UnsupportedMediaTypeError, ValidationError

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
CONTENT_TYPES = (CSV, JSON, JSONLINES)
_ALIASES = {"application/json-lines": JSONLINES, "application/x-jsonlines": JSONLINES, "application/jsonl": JSONLINES}
_WRAPPERS = ("dataframe_split", "instances", "inputs")
ARROW_CSV_BYTES = 1 << 16  # CSV bodies from this size up are read by Arrow
LISTED = 10  # names an error message lists before it says "and N more"
_NUMERIC_PREFIXES = ("int", "uint", "float", "bool", "number", "integer", "double", "decimal")


class NotAcceptableError(UnsupportedMediaTypeError):
    """The ``Accept`` header names no response type the endpoint can write."""

    http_status = 406


def media_type(header: str | None) -> str:
    """The bare, lower-case media type of a Content-Type header (parameters dropped)."""
    kind = (header or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(kind, kind)


def accept_type(header: str | None, content_type: str) -> str:
    """The response media type for an ``Accept`` header.

    No header or a wildcard answers in JSON. Raises NotAcceptableError otherwise.
    """
    if not header:
        return JSON
    for part in header.split(","):
        kind = media_type(part)
        if kind in CONTENT_TYPES:
            return kind
        if kind in ("*/*", "application/*", ""):
            return JSON
        if kind == "text/*":
            return CSV
    raise NotAcceptableError(f"cannot answer with Accept {header!r}; use one of {', '.join(CONTENT_TYPES)}")


class Signature:
    """A model's input columns and, for each, whether it holds numbers."""

    def __init__(self, inputs: Sequence[dict[str, str]]) -> None:
        self.names = [c["name"] for c in inputs]
        self.types = [str(c.get("type", "float64")) for c in inputs]
        self.numeric = [t.lower().startswith(_NUMERIC_PREFIXES) for t in self.types]
        self._index = {n: i for i, n in enumerate(self.names)}
        self._all_numeric = all(self.numeric)

    def __len__(self) -> int:
        return len(self.names)

    # parsing ----------------------------------------------------------------------------------
    def parse(self, body: bytes, content_type: str) -> list[list[Any]]:
        """Rows of ``body`` in signature order.

        Raises:
            UnsupportedMediaTypeError: for a content type other than CSV, JSON or JSON Lines.
            ValidationError: malformed body, wrong column count, unknown column, wrong type.
        """
        if content_type == CSV:
            rows = self._parse_csv(body)
        elif content_type == JSON:
            rows = self._parse_json(body)
        elif content_type == JSONLINES:
            rows = self._parse_jsonlines(body)
        else:
            raise UnsupportedMediaTypeError(
                f"Content-Type {content_type or '(none)'!r} is not supported; use one of {', '.join(CONTENT_TYPES)}"
            )
        if not rows:
            raise ValidationError("the request holds no records")
        return rows

    def _parse_csv(self, body: bytes) -> list[list[Any]]:
        if len(body) >= ARROW_CSV_BYTES:
            from forgeml.serving._arrow_csv import read_rows

            rows = read_rows(self, body)
            if rows is not None:
                return rows
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"CSV body is not UTF-8 text (byte {exc.start})") from None
        if '"' in text:
            try:
                records = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
            except csv.Error as exc:
                raise ValidationError(f"malformed CSV: {exc}") from None
        else:
            records = [line.split(",") for line in text.splitlines() if line.strip()]
        return [self._row(values, i, csv_text=True) for i, values in enumerate(records)]

    def _parse_json(self, body: bytes) -> list[list[Any]]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"malformed JSON: {exc}") from None
        return self._records(data)

    def _parse_jsonlines(self, body: bytes) -> list[list[Any]]:
        rows: list[list[Any]] = []
        for n, line in enumerate(body.splitlines()):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValidationError(f"malformed JSON on line {n + 1}: {exc}") from None
            rows.append(self._record(item, len(rows)))
        return rows

    def _records(self, data: Any) -> list[list[Any]]:
        """Accepted JSON shapes: one record, a list of records, ``{"instances": [...]}``,
        ``{"inputs": [...]}``, ``{"columns": [...], "data": [[...]]}`` (pandas split) and
        ``{"dataframe_split": {...}}``. Any other shape is refused naming the field."""
        if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in _WRAPPERS:
            key = next(iter(data))
            data = data[key]
            if key == "dataframe_split":
                if not isinstance(data, dict) or "data" not in data:
                    raise ValidationError("'dataframe_split' must be an object with 'columns' and 'data'")
                return self._split(data, "dataframe_split.")
            if not isinstance(data, list):
                raise ValidationError(f"{key!r} must be a list of records, got {_kind(data)}")
        elif isinstance(data, dict):
            if "data" in data and set(data) <= {"columns", "data", "index"}:
                return self._split(data, "")
            return [self._record(data, 0)]
        if not isinstance(data, list):
            raise ValidationError("JSON body must be a record, a list of records or {\"instances\": [...]}")
        if data and not isinstance(data[0], (list, dict)):
            return [self._record(data, 0)]
        return [self._record(item, i) for i, item in enumerate(data)]

    def _split(self, data: dict[str, Any], where: str) -> list[list[Any]]:
        columns, rows = data.get("columns"), data["data"]
        if set(data) - {"columns", "data", "index"}:
            extra = sorted(map(str, set(data) - {"columns", "data", "index"}))
            raise ValidationError(f"{where}{extra[0]!r} is not a field of the split form (columns, data, index)")
        if not isinstance(rows, list):
            raise ValidationError(f"'{where}data' must be a list of rows, got {_kind(rows)}")
        if columns is None:
            return [self._record(r, i) for i, r in enumerate(rows)]
        if not isinstance(columns, list):
            raise ValidationError(f"'{where}columns' must be a list of column names, got {_kind(columns)}")
        for k, name in enumerate(columns):
            if not isinstance(name, str):
                raise ValidationError(f"'{where}columns' item {k} must be a column name (a string), got {_kind(name)}")
        dupes = sorted({c for c in columns if columns.count(c) > 1}) if len(set(columns)) != len(columns) else []
        if dupes:
            raise ValidationError(f"'{where}columns' names {_listing(dupes)} more than once")
        if columns == self.names:  # the usual case: already in signature order
            return [self._record(row, i) for i, row in enumerate(rows)]
        self._check_names(columns, f"'{where}columns'")
        out = []
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(columns):
                raise ValidationError(f"'{where}data' record {i}: expected {len(columns)} value(s) to match 'columns'")
            out.append(self._record(dict(zip(columns, row, strict=True)), i))
        return out

    def _check_names(self, names: Any, where: str) -> None:
        unknown = [str(k) for k in names if k not in self._index]
        if unknown:
            raise ValidationError(f"{where}: unknown column(s) {_listing(unknown)}")
        missing = [n for n in self.names if n not in names]
        if missing:
            raise ValidationError(f"{where}: missing column(s) {_listing(missing)}")

    def _record(self, item: Any, i: int) -> list[Any]:
        if isinstance(item, list):
            return self._row(item, i, csv_text=False)
        if isinstance(item, dict):
            if len(item) != len(self.names) or any(k not in self._index for k in item):
                self._check_names(item, f"record {i}")
            return self._row([item[n] for n in self.names], i, csv_text=False)
        raise ValidationError(f"record {i}: expected a list of values or an object of columns, got {_kind(item)}")

    def _row(self, values: Sequence[Any], i: int, *, csv_text: bool) -> list[Any]:
        if len(values) != len(self.names):
            raise ValidationError(f"record {i}: expected {len(self.names)} value(s), got {len(values)}")
        if self._all_numeric and not csv_text:
            for value in values:  # fast path: plain JSON numbers need no conversion
                kind = type(value)
                if kind is not float and kind is not int:
                    break
            else:
                return values if isinstance(values, list) else list(values)
        out = list(values)
        for j, value in enumerate(out):
            out[j] = self._value(value, i, j, csv_text)
        return out

    def _value(self, value: Any, i: int, j: int, csv_text: bool) -> Any:
        numeric = self.numeric[j]
        if csv_text:
            value = value.strip()
            if value == "":
                return math.nan if numeric else None
            if not numeric:
                return value
            try:
                number = float(value)
            except ValueError:
                raise ValidationError(f"record {i} column {self.names[j]!r}: {value[:40]!r} is not a number") from None
            if math.isinf(number):
                raise ValidationError(f"record {i} column {self.names[j]!r}: {value[:40]!r} is infinite; give a finite number or leave it empty")
            return number
        if value is None:
            return math.nan if numeric else None
        if numeric:
            if isinstance(value, (int, float)):  # bool is an int
                return float(value)
            raise ValidationError(f"record {i} column {self.names[j]!r}: expected a number, got {type(value).__name__}")
        if isinstance(value, (list, dict)):
            raise ValidationError(f"record {i} column {self.names[j]!r}: expected a scalar, got {type(value).__name__}")
        return value


def _kind(value: Any) -> str:
    """How a JSON value is called in an error message."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _listing(names: Sequence[str], limit: int = LISTED) -> str:
    """``a, b, c`` or, past ``limit`` names, ``a, b, ... and 4 more (14 in all)``."""
    shown = ", ".join(str(n)[:80] for n in names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more ({len(names)} in all)"


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def encode(predictions: list[dict[str, Any]], accept: str) -> bytes:
    """Predictions (one dict per record) as a response body of type ``accept``."""
    records = [{k: _plain(v) for k, v in p.items()} for p in predictions]
    if accept == JSON:
        return orjson.dumps({"predictions": records})
    if accept == JSONLINES:
        return b"".join(orjson.dumps(r) + b"\n" for r in records)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for r in records:
        writer.writerow(["" if v is None else v for v in r.values()])
    return buf.getvalue().encode()


__all__ = ["CONTENT_TYPES", "CSV", "JSON", "JSONLINES", "NotAcceptableError", "Signature", "accept_type", "encode", "media_type"]
