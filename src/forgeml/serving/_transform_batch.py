"""One mini-batch (one "request") of a batch transform: bytes in, response body out.

CSV without a join or output filter takes a vectorized path: Arrow parses the batch, numeric
columns become one float matrix, the model's ``predict_numpy`` scores it, and Arrow writes the
result. Everything else (JSON records, joins, filters) goes record by record. Any record that
cannot be read, does not fit the model's signature, or makes the model raise, raises
:class:`RecordError` naming its line.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

import orjson

from forgeml.errors import ModelError, ValidationError
from forgeml.registry._loaded import is_numeric_type
from forgeml.serving._transform_config import CSV, JSON, TransformConfig
from forgeml.serving._transform_filters import JsonFilter, RecordError, join

if TYPE_CHECKING:
    import numpy as np

    from forgeml.registry import LoadedModel


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"input is not UTF-8 text (byte {exc.start})") from None


def _lines(data: bytes, first_line: int) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based line numbers in the file."""
    return [(first_line + i, line) for i, line in enumerate(_text(data).split("\n")) if line.strip()]


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class BatchProcessor:
    """Turns request bodies into response bodies for one model and one transform config."""

    def __init__(self, model: LoadedModel, config: TransformConfig) -> None:
        self.model = model
        self.config = config
        self.names = model.feature_names
        self.numeric = [is_numeric_type(c.get("type")) for c in model.manifest.inputs]
        self.outputs = [o["name"] for o in model.manifest.outputs()]
        self.input_filter = JsonFilter(config.input_filter, "input_filter")
        self.output_filter = JsonFilter(config.output_filter, "output_filter")
        self.join = config.join_source == "Input"
        self.fast = (
            config.content_type == CSV and all(self.numeric) and model.recipe is None and model.manifest.flavor != "mlflow"
        )

    # entry point -----------------------------------------------------------------------------
    def process(self, data: bytes, first_line: int = 1, *, whole_file: bool = False) -> tuple[bytes, int]:
        """Score one request body; return the response body and how many records it held."""
        if self.config.content_type == CSV:
            return self._csv(data, first_line)
        return self._json(data, first_line, whole_file)

    # prediction ------------------------------------------------------------------------------
    def _predict_frame(self, rows: Any, lines: list[int]) -> dict[str, np.ndarray]:
        import pandas as pd

        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=self.names)
        try:
            out = self.model.predict(frame)
        except ValidationError as exc:
            row = _row_of(str(exc))
            where = f"line {lines[row]}" if row is not None and row < len(lines) else f"lines {lines[0]}-{lines[-1]}"
            raise RecordError(f"{where}: {exc}") from None
        except ModelError as exc:
            raise RecordError(f"lines {lines[0]}-{lines[-1]}: {exc}") from None
        return {c: out[c].to_numpy() for c in out.columns}

    def _predict_matrix(self, X: np.ndarray, first: int, last: int) -> dict[str, np.ndarray]:
        try:
            return self.model.predict_numpy(X)
        except ModelError as exc:
            raise RecordError(f"lines {first}-{last}: {exc}") from None

    # CSV -------------------------------------------------------------------------------------
    def _csv(self, data: bytes, first_line: int) -> tuple[bytes, int]:
        if self.fast and not self.join and self.output_filter.identity:
            try:
                return self._csv_fast(data, first_line)
            except RecordError:
                raise
            except Exception:  # Arrow refused the text: find and name the bad record below
                pass
        lines = _lines(data, first_line)
        records = [self._fields(n, line) for n, line in lines]
        rows = [self._fit(self.input_filter.apply(r), n) for (n, _), r in zip(lines, records, strict=True)]
        if self.fast:
            X = self._numeric(rows, lines)
            out = self._predict_matrix(X, lines[0][0], lines[-1][0]) if rows else {}
        else:
            out = self._predict_frame(rows, [n for n, _ in lines]) if rows else {}
        return self._write(records, out, [line for _, line in lines]), len(records)

    def _csv_fast(self, data: bytes, first_line: int) -> tuple[bytes, int]:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv

        first = data[: data.find(b"\n")] if b"\n" in data else data
        types = {}
        if b'"' not in first:  # the kept columns are numbers: parse them as such, skip inference
            width = first.count(b",") + 1
            types = {f"f{i}": pa.float64() for i in self.input_filter.indices(width)}
        table = pacsv.read_csv(
            io.BytesIO(data), read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )  # fmt: skip
        if table.num_rows == 0:
            return b"", 0
        keep = self.input_filter.indices(table.num_columns)
        if len(keep) != len(self.names):
            raise RecordError(
                f"line {first_line}: record has {len(keep)} field(s) after input_filter, the model expects {len(self.names)}"
            )
        cols = [pc.cast(table.column(i), pa.float64()) for i in keep]  # raises on text: slow path names it
        X = np.column_stack([c.to_numpy(zero_copy_only=False) for c in cols]) if cols else np.empty((table.num_rows, 0))
        out = self._predict_matrix(X, first_line, first_line + table.num_rows - 1)
        body = _arrow_csv([out[c] for c in self.outputs])
        return body, table.num_rows

    def _fields(self, line_no: int, line: str) -> list[str]:
        try:
            return next(csv.reader([line]))
        except csv.Error as exc:
            raise RecordError(f"line {line_no}: not valid CSV: {exc}") from None

    def _fit(self, row: Any, line_no: int) -> list[Any]:
        if isinstance(row, dict):
            missing = [c for c in self.names if c not in row]
            if missing:
                raise RecordError(f"line {line_no}: record lacks field(s) {', '.join(missing)}")
            return [row[c] for c in self.names]
        if not isinstance(row, list):
            row = [row]
        if len(row) != len(self.names):
            raise RecordError(f"line {line_no}: record has {len(row)} field(s) after input_filter, the model expects {len(self.names)}")
        return row

    def _numeric(self, rows: list[list[Any]], lines: list[tuple[int, str]]) -> np.ndarray:
        import numpy as np

        X = np.empty((len(rows), len(self.names)), dtype=np.float64)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                try:
                    X[i, j] = float(value) if value not in ("", None) else np.nan
                except (TypeError, ValueError):
                    raise RecordError(f"line {lines[i][0]}: field {self.names[j]!r} value {value!r} is not a number") from None
        return X

    def _write(self, records: list[Any], out: dict[str, np.ndarray], raw: list[str]) -> bytes:
        n = len(records)
        values = [[_scalar(out[c][i]) for c in self.outputs] for i in range(n)]
        if self.config.accept == CSV:
            if self.join and self.output_filter.identity:
                tails = _csv_lines(values)
                return "\n".join(f"{line},{tail}" for line, tail in zip(raw, tails, strict=True)).encode()
            rows = [(records[i] + values[i]) if self.join else values[i] for i in range(n)]
            return "\n".join(_csv_lines([self.output_filter.apply(r) for r in rows])).encode()
        objs = [dict(zip(self.outputs, v, strict=True)) for v in values]
        if self.join:
            objs = [join(records[i], objs[i]) for i in range(n)]
        return b"\n".join(orjson.dumps(self.output_filter.apply(o), option=orjson.OPT_SERIALIZE_NUMPY) for o in objs)

    # JSON ------------------------------------------------------------------------------------
    def _json(self, data: bytes, first_line: int, whole_file: bool) -> tuple[bytes, int]:
        single_document = whole_file and self.config.content_type == JSON
        if single_document:
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise RecordError(f"not valid JSON: {exc}") from None
            many = isinstance(doc, list) and bool(doc) and all(isinstance(d, (list, dict)) for d in doc)
            records = doc if many else [doc]
            numbers = [first_line] * len(records)
        else:
            records, numbers = [], []
            for n, line in _lines(data, first_line):
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise RecordError(f"line {n}: not valid JSON: {exc}") from None
                numbers.append(n)
        rows = []
        for n, rec in zip(numbers, records, strict=True):
            try:
                rows.append(self._fit(self.input_filter.apply(rec), n))
            except RecordError as exc:
                raise RecordError(exc.message if exc.message.startswith("line") else f"line {n}: {exc.message}") from None
        out = self._predict_frame(rows, numbers) if rows else {}
        body = self._write(records, out, [])
        if single_document and self.config.accept == JSON:
            items = [orjson.loads(x) for x in body.split(b"\n")] if body else []
            return orjson.dumps(items if many else (items[0] if items else None)), len(records)
        return body, len(records)


def _row_of(message: str) -> int | None:
    """The batch row a LoadedModel validation message names (``... row 3: ...``)."""
    import re

    found = re.search(r"\brow (\d+)\b", message)
    return int(found.group(1)) if found else None


def _csv_lines(rows: list[list[Any]]) -> list[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow([repr(v) if isinstance(v, float) else v for v in (row if isinstance(row, list) else [row])])
    text = buf.getvalue()
    return text[:-1].split("\n") if text else []


def _arrow_csv(columns: list[Any]) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table({f"c{i}": pa.array(c) for i, c in enumerate(columns)})
    buf = io.BytesIO()
    try:
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    except pa.ArrowInvalid:  # a text label that needs quoting
        return "\n".join(_csv_lines([[_scalar(v) for v in row] for row in zip(*columns, strict=True)])).encode()
    return buf.getvalue().rstrip(b"\n")


__all__ = ["BatchProcessor"]
