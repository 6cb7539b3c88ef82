"""CSV and TSV parsing that accounts for every line: good rows kept, bad ones quarantined.

pyarrow parses the file and infers the types. It is lenient about quoting: an unterminated quote
swallows the rest of the file into one value, and a stray quote that opens a value makes the
lines after it part of that value until the next quote. So when a file is not one record per
line (quoted newlines, blank lines), holds NUL bytes, or its last line holds a quote, its records
are first split by Python's ``csv`` module in strict mode, and a record that runs across lines
is refused when its quoted field never closes, is followed by text after its closing quote, or
leaves the row with the wrong number of fields. Such a record's first line is quarantined with
the line range the quote ran over, and reading resumes on the next line, so the good rows after
a broken quote are kept. A record holding a NUL byte is quarantined whole. The remaining records
go to pyarrow as they are.

Type inference keeps identifiers: a column of digit strings in which some value has a leading
zero (``007``, ``02134``), or whose integers do not fit int64 (pyarrow would make them floats),
stays a string column holding the text as it was in the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

MAX_BROKEN_QUOTES = 100
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_LEADING_ZERO = r"^\s*[+-]?0\d"
_INTEGER = r"^\s*[+-]?\d+\s*$"


def read_csv(text: str, where: str, delimiter: str, bad: list[dict[str, Any]]) -> pa.Table:
    """One CSV/TSV text as a table; malformed records are appended to ``bad``.

    Raises:
        ValidationError: an empty or NUL-holding header row, an unnamed column, quoting broken in
            more than ``MAX_BROKEN_QUOTES`` places, or text pyarrow cannot parse.
    """
    header = _LINE.match(text)
    first = header.group(0).rstrip("\r\n") if header else ""
    if not first.strip():
        raise ValidationError(f"{where} line 1: empty header row")
    if "\x00" in first:
        raise ValidationError(f"{where} line 1: NUL byte in the header row (a UTF-16 file? pass its encoding, e.g. encoding='utf-16')")
    data = text.encode()
    table, invalid = _parse(data, delimiter, where)
    if "\x00" in text or not _one_record_per_line(text, data, table.num_rows + len(invalid) + 1):
        data = _careful(text, delimiter, where, bad)
        table, invalid = _parse(data, delimiter, where)
    bad.extend({"source": where, "line": number, "raw": raw, "error": error} for number, raw, error in invalid)
    if "" in table.column_names:
        raise ValidationError(f"{where} line 1: column {table.column_names.index('') + 1} has no name")
    return _keep_identifiers(table, data, delimiter, where)


def _parse(data: bytes, delimiter: str, where: str, **convert: Any) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    invalid: list[tuple[int, str, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.text, f"expected {row.expected_columns} fields, saw {row.actual_columns}"))
        return "skip"

    try:
        table = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(use_threads=False, block_size=max(1 << 20, len(data) + 1)),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(**convert) if convert else None,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(f"{where}: cannot parse as CSV: {exc}") from None
    return table, invalid


def _one_record_per_line(text: str, data: bytes, records: int) -> bool:
    """Whether pyarrow's records are exactly the physical lines (so none can hide a broken quote)."""
    lines = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") + (0 if data.endswith((b"\n", b"\r")) else 1)
    if records != lines:
        return False
    last = text.rstrip("\r\n").rsplit("\n", 1)[-1].rsplit("\r", 1)[-1]
    return '"' not in last  # a quote on the last line may open a value the file never closes


def physical_lines(text: str) -> list[str]:
    """The lines of ``text`` with their terminators (``\\n``, ``\\r\\n`` or ``\\r``, as CSV knows them)."""
    return _LINE.findall(text)


def _from(lines: list[str], start: int) -> Iterator[str]:
    return (lines[i] for i in range(start, len(lines)))


def split_records(lines: list[str], delimiter: str, where: str) -> tuple[list[tuple[int, int, list[str]]], list[dict[str, Any]]]:
    """Records as ``(first line index, end line index, fields)`` plus the rejected ones.

    The first record is the header. Blank lines are neither.

    Raises:
        ValidationError: more than ``MAX_BROKEN_QUOTES`` quoted fields break across lines.
    """
    if csv.field_size_limit() < 1 << 30:  # a quoted value may hold a whole file; the default cuts at 128 KiB
        csv.field_size_limit(1 << 30)
    good: list[tuple[int, int, list[str]]] = []
    rejected: list[dict[str, Any]] = []
    expected: int | None = None
    resume: int | None = 0
    while resume is not None:
        base, resume = resume, None
        reader = csv.reader(_from(lines, base), delimiter=delimiter, strict=True)
        while True:
            start = base + reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                stop = base + reader.line_num
                at_end = stop >= len(lines) and "end of data" in str(exc)
                if stop - start == 1 and not at_end:  # a lenient single-line quote: read as pyarrow would
                    good.append((start, stop, next(csv.reader([lines[start].rstrip("\r\n")], delimiter=delimiter))))
                    continue
                why = "never closes (the file ends inside it)" if at_end else "is followed by text after its closing quote"
            else:
                stop = base + reader.line_num
                if not row:
                    continue
                if expected is None:
                    expected = len(row)
                if stop - start == 1 or len(row) == expected:
                    good.append((start, stop, row))
                    continue
                why = f"leaves the row with {len(row)} field(s), expected {expected}"
            if expected is None:
                raise ValidationError(f"{where} line 1: a quoted field of the header row {why}")
            rejected.append(_broken(lines, start, stop, why, where, len(rejected)))
            resume = start + 1
            break
    return good, rejected


def _broken(lines: list[str], start: int, stop: int, why: str, where: str, seen: int) -> dict[str, Any]:
    if seen >= MAX_BROKEN_QUOTES:
        raise ValidationError(
            f"{where}: more than {MAX_BROKEN_QUOTES} quoted fields run across lines and break their rows "
            f"(the last at lines {start + 1}-{stop}); the file's quoting is broken"
        )
    span = f"line {start + 1}" if stop - start == 1 else f"lines {start + 1}-{stop}"
    return {
        "line": start + 1, "raw": lines[start].rstrip("\r\n"),
        "error": f"a quoted field runs over {span} and {why}; only line {start + 1} quarantined, reading resumed at line {start + 2}",
    }  # fmt: skip


def _careful(text: str, delimiter: str, where: str, bad: list[dict[str, Any]]) -> bytes:
    """Split ``text`` strictly, reject broken and NUL-holding records, and re-serialize the rest.

    Rows with the wrong number of fields are rejected here too, so the text returned is one
    well-formed record per row and pyarrow only infers the types.
    """
    lines = physical_lines(text)
    good, rejected = split_records(lines, delimiter, where)
    if not good:
        raise ValidationError(f"{where} line 1: empty header row")
    expected = len(good[0][2])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    for index, (start, stop, fields) in enumerate(good):
        raw = "".join(lines[start:stop]).rstrip("\r\n")
        if "\x00" in raw:
            line, column = _nul_position(lines, start, stop)
            at = f"column {column}" if line == start + 1 else f"line {line} column {column}"
            rejected.append({"line": start + 1, "raw": raw, "error": f"NUL byte at {at}"})
        elif index and len(fields) != expected:
            rejected.append({"line": start + 1, "raw": raw, "error": f"expected {expected} fields, saw {len(fields)}"})
        else:
            writer.writerow(fields)
    bad.extend({"source": where, **r} for r in sorted(rejected, key=lambda r: r["line"]))
    return out.getvalue().encode()


def _nul_position(lines: list[str], start: int, stop: int) -> tuple[int, int]:
    for i in range(start, stop):
        if (col := lines[i].find("\x00")) >= 0:
            return i + 1, col + 1
    return start + 1, 0


def _keep_identifiers(table: pa.Table, data: bytes, delimiter: str, where: str) -> pa.Table:
    """Numeric columns that hold identifiers become their text: see the module docstring."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pt

    sep = re.escape(delimiter.encode())
    zeros = re.search(rb'(?:^|[\r\n' + sep + rb'])"?\s*[+-]?0\d', data) is not None
    floats = [f.name for f in table.schema if pt.is_floating(f.type)]
    wanted = [f.name for f in table.schema if pt.is_integer(f.type)] if zeros else []
    if zeros or (floats and re.search(rb"\d{19}", data)):
        wanted += floats
    if not wanted:
        return table
    text, _ = _parse(data, delimiter, where, column_types={c: pa.string() for c in wanted}, include_columns=wanted,
                     strings_can_be_null=True)  # fmt: skip
    for name in wanted:
        raw = text.column(name)
        ident = pc.any(pc.match_substring_regex(raw, _LEADING_ZERO)).as_py()
        if not ident and pt.is_floating(table.schema.field(name).type):
            ident = raw.null_count < len(raw) and pc.all(pc.match_substring_regex(raw, _INTEGER)).as_py()
        if ident:
            table = table.set_column(table.schema.get_field_index(name), name, raw)
    return table


__all__ = ["MAX_BROKEN_QUOTES", "physical_lines", "read_csv", "split_records"]
