"""Arrow tables as datasets see them: normalized types, a canonical content hash, schema checks.

The content hash is computed from column names, types and values in a library-version-independent
way (validity bitmaps and value bytes, never file bytes), so a version read back from Parquet, or
imported on another machine, hashes to the same digest it was written with.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

_FIXED_WIDTH_KINDS = ("is_integer", "is_floating", "is_boolean", "is_temporal")


def normalize(table: pa.Table) -> pa.Table:
    """Drop schema metadata and use one physical type per logical type (``string``, ``binary``)."""
    import pyarrow as pa
    import pyarrow.types as pt

    fields = []
    for f in table.schema:
        typ = f.type
        if pt.is_large_string(typ) or pt.is_string_view(typ):
            typ = pa.string()
        elif pt.is_large_binary(typ) or pt.is_binary_view(typ):
            typ = pa.binary()
        elif pt.is_dictionary(typ):
            typ = typ.value_type
            if pt.is_large_string(typ):
                typ = pa.string()
        fields.append(pa.field(f.name, typ))
    schema = pa.schema(fields)
    if schema.equals(table.schema.remove_metadata()):
        return table.replace_schema_metadata(None)
    return table.replace_schema_metadata(None).cast(schema)


def duplicate_columns(names: list[str]) -> list[str]:
    """Column names that occur more than once, in first-seen order."""
    seen: set[str] = set()
    dupes: list[str] = []
    for n in names:
        if n in seen and n not in dupes:
            dupes.append(n)
        seen.add(n)
    return dupes


def _hash_column(h: Any, column: pa.ChunkedArray) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pt

    arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    typ = arr.type
    h.update(pc.is_null(arr).to_numpy(zero_copy_only=False).tobytes())
    if pt.is_null(typ):
        return
    if any(getattr(pt, kind)(typ) for kind in _FIXED_WIDTH_KINDS) and not pt.is_date64(typ):
        storage = pa.int64() if pt.is_temporal(typ) else typ
        if pt.is_temporal(typ) and typ.bit_width == 32:
            storage = pa.int32()
        values = arr.cast(storage) if storage != typ else arr
        filled = pc.fill_null(values, False if pt.is_boolean(typ) else 0)
        h.update(filled.to_numpy(zero_copy_only=False).tobytes())
        return
    if pt.is_string(typ) or pt.is_binary(typ):
        data = pc.fill_null(arr.cast(pa.binary()), b"")
        h.update(pc.binary_length(data).to_numpy(zero_copy_only=False).astype("<i8").tobytes())
        h.update(b"".join(data.to_pylist()))
        return
    for value in arr.to_pylist():
        h.update(repr(value).encode())
        h.update(b"\x1f")


def content_hash(table: pa.Table) -> str:
    """``sha256:<hex>`` of the table's column names, types and values, in row order."""
    table = normalize(table)
    h = hashlib.sha256()
    h.update(f"rows={table.num_rows};".encode())
    for name, column in zip(table.column_names, table.columns, strict=True):
        h.update(f"column={name}:{column.type};".encode())
        _hash_column(h, column)
    return "sha256:" + h.hexdigest()


def _first_bad_value(column: pa.ChunkedArray, target: pa.DataType) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    for value in pc.unique(column).slice(0, 10_000).to_pylist():
        try:
            pa.array([value], type=column.type).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return value
    return None


def conform(table: pa.Table, schema: pa.Schema, *, dataset: str, where: str = "the new data") -> pa.Table:
    """Cast ``table`` to a dataset's existing ``schema`` (same columns, castable values).

    Raises:
        ValidationError: a column is missing or extra, or holds values the stored type cannot hold.
    """
    import pyarrow as pa

    have, want = set(table.column_names), set(schema.names)
    if extra := [c for c in table.column_names if c not in want]:
        raise ValidationError(
            f"dataset {dataset!r}: {where} has column(s) {', '.join(extra)} that the dataset does not "
            "(allow a schema change to start a new schema)"
        )
    if missing := [c for c in schema.names if c not in have]:
        raise ValidationError(
            f"dataset {dataset!r}: {where} lacks column(s) {', '.join(missing)} (allow a schema change to start a new schema)"
        )
    columns = []
    for field in schema:
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                bad = _first_bad_value(column, field.type)
                raise ValidationError(
                    f"dataset {dataset!r}: column {field.name!r} is {field.type}; {column.type} values "
                    f"such as {bad!r} in {where} do not convert"
                ) from None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def key_column(table: pa.Table, key: list[str]) -> pa.Array:
    """One string per row that identifies it by ``key`` (for membership tests and dedup)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [pc.fill_null(table.column(k).cast(pa.string()), "\x00") for k in key]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def last_per_key(table: pa.Table, key: list[str]) -> pa.Table:
    """``table`` without rows whose key repeats later on (the last occurrence wins)."""
    import pyarrow as pa

    keys = key_column(table, key).to_pylist()
    last = {k: i for i, k in enumerate(keys)}
    if len(last) == len(keys):
        return table
    return table.take(pa.array(sorted(last.values()), type=pa.int64()))


def arrow_schema_json(schema: pa.Schema) -> list[dict[str, str]]:
    """Arrow column names and types, for records and for humans."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def encode_schema(schema: pa.Schema) -> str:
    """The exact Arrow schema as base64 (to cast versions back on read)."""
    import base64

    return base64.b64encode(schema.remove_metadata().serialize().to_pybytes()).decode()


def decode_schema(text: str) -> pa.Schema:
    import base64

    import pyarrow as pa

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


__all__ = [
    "arrow_schema_json",
    "conform",
    "content_hash",
    "decode_schema",
    "duplicate_columns",
    "encode_schema",
    "key_column",
    "last_per_key",
    "normalize",
]
