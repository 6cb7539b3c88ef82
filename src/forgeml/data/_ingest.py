"""File ingestion: CSV, Parquet and JSON Lines from local paths and fsspec URLs into datasets.

A source is a file, a glob (``data/*.csv``, ``memory://raw/**/*.parquet``) or a folder, whose
Hive-style ``key=value`` sub-folders become columns. Every file is read completely and checked
before anything is written: an empty file, a file that is not valid in its encoding, duplicate
column names or types that contradict across files are errors naming the file (and line);
malformed CSV rows and JSON lines that do not parse are quarantined to the side dataset
``<name>-quarantine`` with file, line, error and raw text, and counted in the result.
"""

from __future__ import annotations

import io
import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forgeml.data import _codecs, _csv, _tables
from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    from forgeml.core.idempotency import IdempotencyKey
    from forgeml.core.records import ResourceRecord
    from forgeml.data._datasets import DatasetService, Mode
    from forgeml.settings import Settings

EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst")
FORMATS = ("csv", "tsv", "parquet", "jsonl", "json")
Progress = Callable[[int, int, str], None]


@dataclass
class FileBatch:
    """What reading one source produced: the good rows, the rejected rows, per-file counts."""

    table: pa.Table
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)  # sha256 of each file's bytes, as read


def redact(url: str) -> str:
    """A URL without its password (``scheme://user:secret@host`` -> ``scheme://user:***@host``)."""
    return re.sub(r"(//[^/:@]+):[^/@]*@", r"\1:***@", url)


def format_of(path: str, explicit: str | None = None) -> str:
    """The format named explicitly, else the one its extension says.

    Raises:
        ValidationError: an unknown format or extension.
    """
    if explicit:
        if explicit not in FORMATS:
            raise ValidationError(f"unknown format {explicit!r} (use one of {', '.join(FORMATS)})")
        return explicit
    name = path.lower()
    for comp in COMPRESSIONS:
        name = name.removesuffix(comp)
    for ext, fmt in EXTENSIONS.items():
        if name.endswith(ext):
            return fmt
    raise ValidationError(f"{path}: cannot tell the format from the extension (pass format= csv, tsv, parquet, jsonl or json)")


def _is_data_file(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    if base.startswith((".", "_")):
        return False
    try:
        format_of(path)
    except ValidationError:
        return False
    return True


def expand(source: str) -> tuple[Any, list[str], str]:
    """The filesystem, the data files and the base folder (for partition columns) of a source.

    Raises:
        NotFoundError: nothing exists there, or the glob or folder holds no data file.
    """
    import fsspec

    fs, path = fsspec.core.url_to_fs(source)
    if any(ch in path for ch in "*?["):
        files = sorted(p for p in fs.glob(path) if fs.isfile(p))
        base = path[: min(path.find(ch) for ch in "*?[" if ch in path)].rsplit("/", 1)[0]
    elif fs.isdir(path):
        files = sorted(p for p in fs.find(path) if _is_data_file(p))
        base = path
    elif fs.isfile(path):
        return fs, [path], path.rsplit("/", 1)[0]
    else:
        raise NotFoundError(f"no file or folder at {redact(source)}")
    if not files:
        raise NotFoundError(f"{redact(source)} holds no CSV, Parquet or JSON Lines file")
    return fs, files, base.rstrip("/")


def partitions_of(path: str, base: str) -> dict[str, str | None]:
    """Hive ``key=value`` folder names between ``base`` and the file, as columns."""
    rel = path[len(base) :].strip("/") if path.startswith(base) else path
    out: dict[str, str | None] = {}
    for segment in rel.split("/")[:-1]:
        key, sep, value = segment.partition("=")
        if sep and key:
            value = urllib.parse.unquote(value)
            out[urllib.parse.unquote(key)] = None if value == "__HIVE_DEFAULT_PARTITION__" else value
    return out


def _decode(raw: bytes, where: str, encoding: str) -> str:
    try:
        text = raw.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ValidationError(
            f"{where} line {line}: not valid {encoding} (byte 0x{raw[exc.start]:02x}); "
            "pass the file's encoding, e.g. encoding='latin-1'"
        ) from None
    except LookupError:
        raise ValidationError(f"unknown encoding {encoding!r}") from None
    if not text.strip():
        raise ValidationError(f"{where}: file is empty")
    return text


def _read_jsonl(text: str, where: str, bad: list[dict[str, Any]]) -> pa.Table:
    import json

    good: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):  # JSON Lines ends lines with \n only
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append({"source": where, "line": number, "error": f"invalid JSON at column {exc.colno}: {exc.msg}", "raw": line})
            continue
        if not isinstance(value, dict):
            bad.append({"source": where, "line": number, "error": f"expected a JSON object, got {type(value).__name__}", "raw": line})
            continue
        if dupes := _duplicate_keys(line):
            raise ValidationError(f"{where} line {number}: duplicate key(s) {', '.join(dupes)}")
        good.append(line)
    return _records_table(good, where)


def _read_json(text: str, where: str, bad: list[dict[str, Any]]) -> pa.Table:
    """A ``.json`` file: a JSON array of objects (each element a row), else JSON Lines.

    Raises:
        ValidationError: the array is not valid JSON (truncated, say), naming line and column.
    """
    import json

    if not text.lstrip().startswith("["):
        return _read_jsonl(text, where, bad)
    dupes: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        dupes.extend(_tables.duplicate_columns([k for k, _ in pairs]))
        return dict(pairs)

    decoder = json.JSONDecoder(object_pairs_hook=hook)
    try:
        decoder.decode(text)
    except json.JSONDecodeError as exc:
        end = " (the file ends inside the array: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise ValidationError(f"{where} line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}{end}") from None
    good: list[str] = []
    pos, line, counted = text.index("[") + 1, 1, 0
    space = re.compile(r"[ \t\n\r]*")
    while True:
        pos = space.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos] == "]":
            break
        line, counted = line + text.count("\n", counted, pos), pos
        dupes.clear()
        value, end = decoder.raw_decode(text, pos)
        if dupes:
            raise ValidationError(f"{where} line {line}: duplicate key(s) {', '.join(dict.fromkeys(dupes))}")
        if isinstance(value, dict):
            good.append(json.dumps(value))
        else:
            bad.append({"source": where, "line": line, "error": f"expected a JSON object, got {type(value).__name__}", "raw": text[pos:end]})
        pos = space.match(text, end).end()  # type: ignore[union-attr]
        pos += text[pos] == ","
    return _records_table(good, where)


def _records_table(lines: list[str], where: str) -> pa.Table:
    import pyarrow as pa
    import pyarrow.json as pjson

    if not lines:
        return pa.table({})
    data = "\n".join(lines).encode()
    try:
        return pjson.read_json(io.BytesIO(data), read_options=pjson.ReadOptions(block_size=max(1 << 20, len(data) + 1)))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(f"{where}: records disagree on types: {exc}") from None


def _duplicate_keys(line: str) -> list[str]:
    import json

    found: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found.extend(_tables.duplicate_columns([k for k, _ in pairs]))
        return dict(pairs)

    json.loads(line, object_pairs_hook=hook)
    return found


def _read_parquet(raw: bytes, where: str) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not raw:
        raise ValidationError(f"{where}: file is empty")
    try:
        return pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError, ValueError) as exc:  # truncated, corrupt pages, bad metadata
        raise ValidationError(f"{where}: not a readable Parquet file ({len(raw)} bytes; truncated or corrupt?): {exc}") from None


def read_file(
    fs: Any, path: str, fmt: str, *, encoding: str, delimiter: str | None, bad: list[dict[str, Any]], label: str | None = None,
    digests: list[str] | None = None,
) -> pa.Table:
    """One file as an Arrow table; malformed rows go to ``bad``.

    Raises:
        ValidationError: empty file, wrong encoding, duplicate or unnamed columns, unparseable file.
    """
    where = label or (redact(fs.unstrip_protocol(path)) if fs.protocol not in ("file", ("file", "local")) else path)
    with fs.open(path, "rb") as fh:
        raw = fh.read()
    if digests is not None:
        import hashlib

        digests.append(hashlib.sha256(raw).hexdigest())
    raw = _codecs.decompress(raw, path, where)
    if fmt == "parquet":
        table = _read_parquet(raw, where)
    else:
        if not raw:
            raise ValidationError(f"{where}: file is empty")
        text = _decode(raw, where, encoding)
        if fmt in ("jsonl", "json"):
            table = (_read_json if fmt == "json" else _read_jsonl)(text, where, bad)
        else:
            table = _csv.read_csv(text, where, delimiter or ("\t" if fmt == "tsv" else ","), bad)
    if dupes := _tables.duplicate_columns(table.column_names):
        raise ValidationError(f"{where}: duplicate column name(s) {', '.join(dupes)}")
    return table


def _partition_types(all_parts: list[dict[str, str | None]]) -> dict[str, pa.DataType]:
    """int64 for a partition key whose every value is an integer, else string (``zip=02134`` stays text)."""
    import pyarrow as pa

    keys = {k for parts in all_parts for k in parts}
    return {
        k: pa.int64() if all(re.fullmatch(r"-?(0|[1-9]\d{0,17})", p[k]) for p in all_parts if p.get(k) is not None) else pa.string()
        for k in keys
    }


def _with_partitions(table: pa.Table, parts: dict[str, str | None], types: dict[str, pa.DataType]) -> pa.Table:
    import pyarrow as pa

    for key, value in parts.items():
        if key not in table.column_names:
            arr = pa.array([value] * table.num_rows, type=pa.string()).cast(types[key])
            table = table.append_column(key, arr)
    return table


def _combine(tables: list[tuple[str, pa.Table]]) -> pa.Table:
    """Concatenate per-file tables; numeric widening is fine, other type clashes are errors."""
    import pyarrow as pa
    import pyarrow.types as pt

    seen: dict[str, tuple[pa.DataType, str]] = {}
    for where, table in tables:
        for f in table.schema:
            if pt.is_null(f.type):
                continue
            if f.name in seen:
                typ, first = seen[f.name]
                numeric = (pt.is_integer(typ) or pt.is_floating(typ)) and (pt.is_integer(f.type) or pt.is_floating(f.type))
                if typ != f.type and not numeric:
                    raise ValidationError(f"column {f.name!r} is {typ} in {first} but {f.type} in {where}")
            else:
                seen[f.name] = (f.type, where)
    normalized = [_tables.normalize(t) for _, t in tables]
    if len(normalized) == 1:
        return normalized[0]
    return pa.concat_tables(normalized, promote_options="permissive")


def _resolve(source: str, settings: Settings | None) -> tuple[Any, list[str], str]:
    """:func:`expand`, refusing the workspace's own files when ``settings`` names the workspace."""
    from forgeml.core.workspace_guard import check_files, check_source

    if settings is not None:
        check_source(source, settings)
    fs, files, base = expand(source)
    if settings is not None:
        check_files(fs, files, settings)
    return fs, files, base


def read_source(
    source: str,
    *,
    format: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    progress: Progress | None = None,
    label: str | None = None,
    settings: Settings | None = None,
) -> FileBatch:
    """Read every file of ``source`` into one table (nothing is written).

    With ``settings``, a source that is (or expands to) a file of that workspace is refused
    before anything is opened (see :mod:`forgeml.core.workspace_guard`).

    Raises:
        NotFoundError: the source does not exist or holds no data file.
        ValidationError: a file is bad (see :func:`read_file`) or files disagree on types.
        ForbiddenError: the source is inside the workspace.
    """
    fs, files, base = _resolve(source, settings)
    tables: list[tuple[str, pa.Table]] = []
    bad: list[dict[str, Any]] = []
    info: list[dict[str, Any]] = []
    digests: list[str] = []
    parts = [partitions_of(path, base) for path in files]
    types = _partition_types(parts)
    for i, path in enumerate(files):
        if progress:
            progress(i, len(files), path)
        before = len(bad)
        table = read_file(fs, path, format_of(path, format), encoding=encoding, delimiter=delimiter, bad=bad,
                          label=label if len(files) == 1 else None, digests=digests)  # fmt: skip
        table = _with_partitions(table, parts[i], types)
        tables.append((path, table))
        info.append({"path": path, "rows": table.num_rows, "quarantined": len(bad) - before})
    if progress:
        progress(len(files), len(files), "")
    tables = [(w, t) for w, t in tables if t.num_columns] or tables
    return FileBatch(_combine(tables), bad, info, digests)


def ingest_files(
    datasets: DatasetService,
    source: str,
    name: str,
    *,
    format: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    partition_by: str | None = None,
    mode: Mode = "replace",
    key: list[str] | None = None,
    allow_schema_change: bool = False,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    progress: Progress | None = None,
    label: str | None = None,
    idempotency_key: str | IdempotencyKey | None = None,
) -> ResourceRecord:
    """Read ``source`` and write it as the next version of ``name`` (see :func:`read_source`).

    With ``idempotency_key``, a retry of the same ingest (same options, same bytes) returns the
    version the first one wrote and writes nothing; the key is stored in the transaction that
    creates the version (see :mod:`forgeml.core.idempotency`).

    Raises:
        ValidationError: a bad file, no valid rows, or types that contradict the dataset's schema.
        IdempotencyKeyReusedError: the key was used for a different request.
    """
    from forgeml.core import idempotency as idem

    ikey = idem.as_key(idempotency_key)
    batch = read_source(source, format=format, encoding=encoding, delimiter=delimiter, progress=progress, label=label,
                        settings=datasets.ws.settings)  # fmt: skip
    shown = label or redact(source)
    claim = None
    if ikey is not None:
        params = {"name": name, "source": shown, "format": format, "encoding": encoding, "delimiter": delimiter, "mode": mode,
                  "partition_by": partition_by, "key": key, "allow_schema_change": allow_schema_change,
                  "description": description, "tags": tags}  # fmt: skip
        found = datasets.ws.idempotency.begin(ikey, "datasets.ingest", idem.fingerprint("datasets.ingest", params, "\n".join(batch.digests)))
        if isinstance(found, idem.Replay):
            _, dname, version = idem.parse_ref(str(found.resource))
            return datasets.get(dname, version)
        claim = found
    try:
        if batch.table.num_rows == 0:
            why = f"; all {len(batch.quarantine)} row(s) were malformed, first: {_describe(batch.quarantine[0])}" if batch.quarantine else ""
            raise ValidationError(f"{shown}: no rows to ingest{why}")
        record = datasets.commit(
            name, batch.table, mode=mode, key=key, enforce_schema=not allow_schema_change, partition_by=partition_by,
            spec={"description": description, "source": shown, "format": format, "encoding": encoding},
            data={"ingest": {"source": shown, "files": batch.files[:100], "file_count": len(batch.files),
                             "rows_read": batch.table.num_rows, "quarantined": len(batch.quarantine),
                             "first_errors": [_describe(q) for q in batch.quarantine[:5]]}},
            tags=tags, quarantine=batch.quarantine, idempotency=claim,
        )  # fmt: skip
    except BaseException:
        if claim is not None:
            claim.release()
        raise
    node = shown if "://" in shown or label else "file://" + os.path.abspath(shown)
    datasets.ws.lineage.record(f"source/{node}", record.ref, "ingested-from")
    return record


def _describe(row: dict[str, Any]) -> str:
    return f"{row['source']} line {row['line']}: {row['error']}"


__all__ = ["FORMATS", "FileBatch", "expand", "format_of", "ingest_files", "partitions_of", "read_file", "read_source", "redact"]
