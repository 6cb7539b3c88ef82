"""Corrupt, truncated and odd input files: one clear error naming the file, or every line accounted for.

Every format (CSV, TSV, JSON Lines, JSON, Parquet), every compression and every path (file, glob,
upload over REST, CLI) answers a corrupt or truncated file with a one-line error naming it; a CSV
with broken quotes or NUL bytes keeps its good rows and quarantines the rest line by line.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.data import read_source
from forgeml.errors import NotFoundError, ValidationError
from tests.cli_runner import run_cli

CSV = b"id,name,amount\n" + b"".join(f"{i},n{i},{i * 10}\n".encode() for i in range(1, 2001))


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as stream:
        stream.write(data)
    return bytes(sink.getvalue().to_pybytes())


def _parquet() -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"a": range(1000), "b": [f"s{i}" for i in range(1000)]}).to_parquet(buf)
    return buf.getvalue()


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0xFF
    out[at + 1] ^= 0xFF
    return bytes(out)


BAD_FILES = [
    ("trunc.csv.gz", gzip.compress(CSV)[:-30], r"trunc\.csv\.gz: truncated gzip data: the stream ends at byte \d+"),
    ("plain.csv.gz", CSV, r"plain\.csv\.gz: not gzip-compressed data \(it starts with b'id,name,'\)"),
    ("crc.csv.gz", _flip(gzip.compress(CSV), len(gzip.compress(CSV)) - 8), r"crc\.csv\.gz: corrupt gzip data at or after compressed byte \d+"),
    ("bad.csv.bz2", b"BZh9" + b"garbage" * 20, r"bad\.csv\.bz2: corrupt bzip2 data at or after compressed byte 0"),
    ("trunc.csv.bz2", bz2.compress(CSV)[:-20], r"trunc\.csv\.bz2: truncated bzip2 data"),
    ("bad.csv.xz", _flip(lzma.compress(CSV), 40), r"bad\.csv\.xz: corrupt xz data"),
    ("trunc.tsv.xz", lzma.compress(CSV.replace(b",", b"\t"))[:-9], r"trunc\.tsv\.xz: truncated xz data"),
    ("bad.csv.zst", b"garbage-not-zstd" * 10, r"bad\.csv\.zst: not zstd-compressed data"),
    ("trunc.csv.zst", _zstd(CSV)[:-10], r"trunc\.csv\.zst: truncated zstd data"),
    ("trunc.jsonl.gz", gzip.compress(b'{"a": 1}\n' * 500)[:-8], r"trunc\.jsonl\.gz: truncated gzip data"),
    ("trunc.parquet", _parquet()[:-100], r"trunc\.parquet: not a readable Parquet file \(\d+ bytes; truncated or corrupt\?\)"),
    ("trunc.json", b'[{"a": 1},\n {"a": 2},\n {"a":', r"trunc\.json line 3 column 7: not valid JSON: .*the file ends inside the array"),
    ("utf16.csv", "id,name\n1,x\n".encode("utf-16-le"), r"utf16\.csv line 1: NUL byte in the header row .*encoding='utf-16'"),
]
IDS = [name for name, _, _ in BAD_FILES]


def _versions(ws: Workspace, name: str) -> list[int]:
    try:
        return [r.version for r in ws.datasets.versions(name)]
    except NotFoundError:
        return []


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=IDS)
def test_bad_file_is_one_error_naming_it_and_writes_nothing(ws: Workspace, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValidationError, match=message) as err:
        ws.datasets.ingest(str(path), "d")
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert _versions(ws, "d") == [] and _versions(ws, "d-quarantine") == []


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=IDS)
def test_bad_file_in_a_glob_is_named(ws: Workspace, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "000-good.csv").write_bytes(b"a\n1\n")  # read first, fine
    (folder / name).write_bytes(content)
    with pytest.raises(ValidationError, match=message):
        ws.datasets.ingest(str(folder / "*"), "d")


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=IDS)
def test_bad_upload_is_400_naming_the_upload(ws: Workspace, name: str, content: bytes, message: str) -> None:
    with TestClient(create_app(ws), raise_server_exceptions=False) as http:
        r = http.post("/datasets/d/upload", params={"filename": name}, content=content)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "ValidationError" and body["message"].startswith(f"upload:{name}")
    assert _versions(ws, "d") == []


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES[:4] + BAD_FILES[8:9], ids=IDS[:4] + IDS[8:9])
def test_bad_file_on_the_cli_is_one_line_and_exit_2(ws: Workspace, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    out = run_cli(ws.home, "data", "ingest", str(path), "--name", "d")
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and "Aborted" not in out.stderr


def test_truncated_gzip_with_debug_shows_the_real_error(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "trunc.csv.gz"
    path.write_bytes(gzip.compress(CSV)[:-30])
    out = subprocess.run([sys.executable, "-m", "forgeml", "--home", str(ws.home), "--debug", "data", "ingest", str(path), "-n", "d"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode != 0 and "Aborted" not in out.stderr
    assert "ValidationError" in out.stderr and "truncated gzip data" in out.stderr


def test_every_compression_reads_and_content_is_sniffed(ws: Workspace, tmp_path: Path) -> None:
    for name, data in (("a.csv.zst", _zstd(CSV)), ("b.csv.bz2", bz2.compress(CSV)), ("c.csv.xz", lzma.compress(CSV)),
                       ("d.csv.gz", gzip.compress(CSV[:500]) + gzip.compress(CSV[500:])), ("e.csv", gzip.compress(CSV))):  # fmt: skip
        (tmp_path / name).write_bytes(data)
        table = read_source(str(tmp_path / name)).table
        assert table.num_rows == 2000 and table.column("amount").to_pylist()[-1] == 20000, name


def test_nul_bytes_quarantine_their_row_and_keep_the_column_numeric(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"id,amount\n1,10\n2,2\x000\n3,30\n4,\"4\n\x00\"\n5,50\n")
    rec = ws.datasets.ingest(str(path), "n")
    got = ws.datasets.read("n")
    assert got["id"].tolist() == [1, 3, 5] and str(got["amount"].dtype) == "int64"
    q = ws.datasets.read("n-quarantine")
    assert q[["line", "error"]].values.tolist() == [[3, "NUL byte at column 4"], [5, "NUL byte at line 6 column 1"]]
    assert rec.data["quarantine"]["rows"] == 2


def test_unterminated_quote_keeps_the_rows_after_it(ws: Workspace, tmp_path: Path) -> None:
    lines = ["id,v"] + [f"{i},x{i}" for i in range(2, 401)]
    lines[137] = '138,"unterminated'  # physical line 138 of 400
    path = tmp_path / "quote.csv"
    path.write_text("\n".join(lines) + "\n")
    rec = ws.datasets.ingest(str(path), "q")
    got = ws.datasets.read("q")
    assert rec.data["rows"] == 398 and 138 not in set(got["id"]) and got["id"].tolist()[-1] == 400
    assert got["v"].str.contains("\n").sum() == 0
    (entry,) = ws.datasets.read("q-quarantine").to_dict("records")
    assert entry["line"] == 138 and entry["raw"] == '138,"unterminated'
    assert "runs over lines 138-400 and never closes" in entry["error"] and "resumed at line 139" in entry["error"]


@pytest.mark.parametrize(
    ("body", "kept", "quarantined"),
    [
        # a quote opens on line 3, closes on line 5, and the row then has 3 fields: lines 4-5 are rows again
        ('1,a\n2,"b\n3,c\n4,d",x\n5,e\n', [1, 3, 5], [(3, "runs over lines 3-5 and leaves the row with 3 field(s), expected 2"), (5, "expected 2 fields, saw 3")]),
        # the quote "closes" on line 4 but text follows it
        ('1,a\n2,"b\n3,"c"d\n4,e\n', [1, 3, 4], [(3, "runs over lines 3-4 and is followed by text after its closing quote")]),
        # a legitimate multi-line value is one row
        ('1,a\n2,"b\nc"\n3,d\n', [1, 2, 3], []),
    ],
)
def test_quoted_fields_across_lines(tmp_path: Path, body: str, kept: list[int], quarantined: list[tuple[int, str]]) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_text("id,v\n" + body)
    batch = read_source(str(path))
    assert batch.table.column("id").to_pylist() == kept
    assert len(batch.quarantine) == len(quarantined)
    for (line, err), q in zip(quarantined, batch.quarantine, strict=True):
        assert q["line"] == line and err in q["error"]


def test_json_array_file_and_json_lines_with_unicode_separators(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('[\n  {"id": 1, "v": "x"},\n  5,\n  {"id": 2}\n]\n')
    batch = read_source(str(tmp_path / "a.json"))
    assert batch.table.to_pydict() == {"id": [1, 2], "v": ["x", None]}
    assert [(q["line"], q["error"], q["raw"]) for q in batch.quarantine] == [(3, "expected a JSON object, got int", "5")]
    (tmp_path / "dupe.json").write_text('[{"a": 1},\n {"a": 2, "a": 3}]')
    with pytest.raises(ValidationError, match=r"dupe\.json line 2: duplicate key\(s\) a"):
        read_source(str(tmp_path / "dupe.json"))
    (tmp_path / "u.jsonl").write_text('{"t": "a\u2028b"}\n{"t": "c"}\n{"t": \n', encoding="utf-8")
    batch = read_source(str(tmp_path / "u.jsonl"))
    assert batch.table.column("t").to_pylist() == ["a\u2028b", "c"]
    assert [(q["line"], q["error"]) for q in batch.quarantine] == [(3, "invalid JSON at column 7: Expecting value")]


def _data_lines(text: str) -> int:
    return len([line for line in text.split("\n")[1:] if line != ""])


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(3, 40),
    edits=st.lists(st.tuples(st.sampled_from(['"', "\x00", '",', ',"']), st.integers(0, 10**6), st.integers(0, 10**6)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_every_line_is_kept_or_quarantined(tmp_path: Path, n: int, edits: list[tuple[str, int, int]], cut: int | None) -> None:
    rows = [f"{i},n{i},{i * 10}" for i in range(1, n + 1)]
    touched: set[int] = set()
    for text, row, col in edits:
        r = row % n
        line = rows[r]
        c = col % (len(line) + 1)
        rows[r] = line[:c] + text + line[c:]
        touched.add(r + 1)
    body = "id,name,amount\n" + "\n".join(rows) + "\n"
    if cut is not None:
        at = 16 + cut % (len(body) - 15)
        body = body[:at]
        touched.add(body.count("\n"))  # the line the cut falls in
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(body.encode())
    batch = read_source(str(path))
    kept = batch.table.to_pylist()
    kept_lines = sum(1 + sum(str(v).count("\n") for v in row.values() if isinstance(v, str)) for row in kept)
    quarantined_lines = sum(q["raw"].count("\n") + 1 for q in batch.quarantine)
    assert kept_lines + quarantined_lines == _data_lines(body), (kept, batch.quarantine)
    for row in kept:  # a kept row of an untouched line holds exactly that line's values
        if all(isinstance(v, int | str) for v in row.values()) and str(row["id"]).isdigit() and int(row["id"]) not in touched:
            i = int(row["id"])
            if "\n" not in "".join(str(v) for v in row.values()):
                assert [str(v) for v in row.values()] == [str(i), f"n{i}", str(i * 10)]
    assert json.dumps(batch.quarantine)  # quarantine rows are plain data


@pytest.mark.parametrize(
    ("body", "ctype", "message"),
    [
        (b'{"a": 1}\n{"a": \n', "application/x-ndjson", "request body line 2 column 7: not valid JSON: Expecting value"),
        (b'[{"a": 1}, {"a": ', "application/json", "request body is not valid JSON: Expecting value: line 1 column 18 (char 17)"),
        (b'[{"a": "caf\xe9"}]', "application/json", "request body is not valid UTF-8 (byte 11)"),
        (b'{"a": "x\x00"}\n', "application/x-ndjson", "request body line 1 column 9: not valid JSON: Invalid control character at"),
    ],
)
def test_bad_record_bodies_are_400_naming_the_line(ws: Workspace, body: bytes, ctype: str, message: str) -> None:
    with TestClient(create_app(ws), raise_server_exceptions=False) as http:
        r = http.post("/datasets/r/records", content=body, headers={"content-type": ctype})
    assert r.status_code == 400 and r.json()["message"] == message
    assert ws.datasets.records().pending("r") == 0
