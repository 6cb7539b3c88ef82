"""File ingestion: CSV / Parquet / JSON Lines, fsspec URLs, globs, Hive folders, and bad input."""

from __future__ import annotations

import gzip
import io
import uuid
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeml.core.workspace import Workspace
from forgeml.data import read_source
from forgeml.errors import NotFoundError, ValidationError


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def versions(ws: Workspace, name: str) -> list[int]:
    try:
        return [r.version for r in ws.datasets.versions(name)]
    except NotFoundError:
        return []


def test_csv_matches_pandas(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "a.csv", "id,name,amount,when\n1,ann,1.5,2024-01-02\n2,bob,,2024-02-03\n3,\"c, d\",3,2024-03-04\n")
    rec = ws.datasets.ingest(str(src), "people")
    got = ws.datasets.read("people")
    expected = pd.read_csv(src)
    assert rec.data["rows"] == 3 and rec.data["quarantine"] is None
    assert got["name"].tolist() == expected["name"].tolist()
    pd.testing.assert_series_equal(got["amount"], expected["amount"])
    assert rec.data["arrow_schema"][3] == {"name": "when", "type": "date32[day]"}
    assert [str(d) for d in got["when"]] == ["2024-01-02", "2024-02-03", "2024-03-04"]
    assert rec.spec["source"] == str(src)
    assert ws.metadata.list_edges(dst=rec.ref)[-1].src == f"source/file://{src}"


def test_malformed_csv_rows_are_quarantined_with_file_and_line(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "loans.csv", 'id,amount,ok\n1,10,"multi\nline"\n2,20\n3,30,1\n4,40,0,extra\n5,50,1\n')
    rec = ws.datasets.ingest(str(src), "loans")
    assert ws.datasets.read("loans")["id"].tolist() == [1, 3, 5]
    assert ws.datasets.read("loans")["ok"].tolist()[0] == "multi\nline"
    assert rec.data["quarantine"] == {"dataset": "dataset/loans-quarantine:1", "rows": 2}
    assert rec.data["ingest"]["first_errors"] == [
        f"{src} line 4: expected 3 fields, saw 2",
        f"{src} line 6: expected 3 fields, saw 4",
    ]
    q = ws.datasets.read("loans-quarantine")
    assert q[["line", "raw"]].values.tolist() == [[4, "2,20"], [6, "4,40,0,extra"]]
    assert set(q["source"]) == {str(src)}
    assert ("dataset/loans:1", "quarantined") in {(e.src, e.relation) for e in ws.metadata.list_edges(dst="dataset/loans-quarantine:1")}


def test_all_rows_malformed_writes_nothing(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "bad.csv", "a,b\n1\n2\n")
    with pytest.raises(ValidationError, match=r"no rows to ingest; all 2 row\(s\) were malformed, first: .*bad.csv line 2"):
        ws.datasets.ingest(str(src), "bad")
    assert versions(ws, "bad") == [] and versions(ws, "bad-quarantine") == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", r"empty.csv: file is empty"),
        ("blank.csv", b"\n  \n", r"blank.csv: file is empty"),
        ("empty.jsonl", b"", r"empty.jsonl: file is empty"),
        ("empty.parquet", b"", r"empty.parquet: file is empty"),
        ("latin.csv", "id,name\n1,ok\n2,caf\u00e9\n".encode("latin-1"), r"latin.csv line 3: not valid utf-8 \(byte 0xe9\)"),
        ("dupes.csv", b"a,b,a\n1,2,3\n", r"dupes.csv: duplicate column name\(s\) a"),
        ("unnamed.csv", b"a,,c\n1,2,3\n", r"unnamed.csv line 1: column 2 has no name"),
        ("dupes.jsonl", b'{"a": 1, "a": 2}\n', r"dupes.jsonl line 1: duplicate key\(s\) a"),
        ("types.jsonl", b'{"a": 1}\n{"a": "x"}\n', r"types.jsonl: records disagree on types"),
        ("fake.parquet", b"not parquet at all", r"fake.parquet: not a readable Parquet file"),
        ("data.xlsx", b"x", r"cannot tell the format"),
        ("header-only.csv", b"a,b\n", r"header-only.csv: no rows to ingest"),
    ],
)
def test_bad_files_are_clear_errors_and_write_nothing(ws: Workspace, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    src = write(tmp_path / name, content)
    with pytest.raises(ValidationError, match=message):
        ws.datasets.ingest(str(src), "d")
    assert versions(ws, "d") == [] and versions(ws, "d-quarantine") == []


def test_encoding_option_reads_latin1(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "latin.csv", "id,name\n1,caf\u00e9\n".encode("latin-1"))
    ws.datasets.ingest(str(src), "l", encoding="latin-1")
    assert ws.datasets.read("l")["name"].tolist() == ["caf\u00e9"]
    bom = write(tmp_path / "bom.csv", "\ufeffid,name\n1,x\n".encode())
    ws.datasets.ingest(str(bom), "b")
    assert list(ws.datasets.read("b").columns) == ["id", "name"]


def test_types_contradicting_the_dataset_are_refused(ws: Workspace, tmp_path: Path) -> None:
    ws.datasets.ingest(str(write(tmp_path / "v1.csv", "id,amount\n1,10\n2,20\n")), "t")
    with pytest.raises(ValidationError, match=r"column 'amount' is int64; string values such as 'lots'"):
        ws.datasets.ingest(str(write(tmp_path / "v2.csv", "id,amount\n3,lots\n")), "t")
    with pytest.raises(ValidationError, match=r"has column\(s\) extra"):
        ws.datasets.ingest(str(write(tmp_path / "v3.csv", "id,amount,extra\n3,1,1\n")), "t")
    assert versions(ws, "t") == [1]
    rec = ws.datasets.ingest(str(tmp_path / "v3.csv"), "t", allow_schema_change=True)
    assert [c["name"] for c in rec.data["arrow_schema"]] == ["id", "amount", "extra"]
    # a float column that holds whole numbers in this file keeps its float type
    ws.datasets.ingest(str(write(tmp_path / "f1.csv", "x\n1.5\n")), "f")
    ws.datasets.ingest(str(write(tmp_path / "f2.csv", "x\n2\n")), "f", mode="append")
    assert ws.datasets.read("f")["x"].tolist() == [1.5, 2.0]


def test_glob_jsonl_parquet_and_gzip(ws: Workspace, tmp_path: Path) -> None:
    write(tmp_path / "in" / "a.jsonl", '{"id": 1, "v": "x"}\n\n{"id": 2}\nnot json\n[1, 2]\n')
    write(tmp_path / "in" / "b.jsonl", '{"id": 3, "v": "z", "extra": true}\n')
    rec = ws.datasets.ingest(str(tmp_path / "in" / "*.jsonl"), "j")
    got = ws.datasets.read("j")
    assert got["id"].tolist() == [1, 2, 3] and list(got.columns) == ["id", "v", "extra"]
    assert rec.data["ingest"]["file_count"] == 2
    q = ws.datasets.read("j-quarantine")
    assert q["line"].tolist() == [4, 5] and q["error"].tolist()[1] == "expected a JSON object, got list"
    pd.DataFrame({"a": [1, 2], "b": ["p", "q"]}).to_parquet(tmp_path / "x.parquet")
    ws.datasets.ingest(str(tmp_path / "x.parquet"), "pq")
    assert ws.datasets.read("pq")["b"].tolist() == ["p", "q"]
    write(tmp_path / "z.csv.gz", gzip.compress(b"a;b\n1;2\n"))
    ws.datasets.ingest(str(tmp_path / "z.csv.gz"), "gz", delimiter=";")
    assert ws.datasets.read("gz").to_dict("list") == {"a": [1], "b": [2]}


def test_files_that_disagree_on_types_name_both(ws: Workspace, tmp_path: Path) -> None:
    write(tmp_path / "m" / "1.csv", "a\n1\n")
    write(tmp_path / "m" / "2.csv", "a\n2.5\n")
    ws.datasets.ingest(str(tmp_path / "m"), "ok")  # int and float widen
    assert ws.datasets.read("ok")["a"].tolist() == [1.0, 2.5]
    write(tmp_path / "m" / "3.csv", "a\nthree\n")
    with pytest.raises(ValidationError, match=r"column 'a' is int64 in .*1.csv but string in .*3.csv"):
        ws.datasets.ingest(str(tmp_path / "m"), "clash")


def test_hive_partitioned_folder_on_fsspec_memory(ws: Workspace) -> None:
    root = f"memory://forgeml-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    try:
        for day, rows in (("2024-01-01", [1, 2]), ("2024-01-02", [3])):
            buf = io.BytesIO()
            pd.DataFrame({"id": rows}).to_parquet(buf)
            fs.pipe(f"{root}/region=eu/day={day}/part-0.parquet", buf.getvalue())
        fs.pipe(f"{root}/_SUCCESS", b"")
        rec = ws.datasets.ingest(root, "events", partition_by="day")
        got = ws.datasets.read("events").sort_values("id")
        assert got.to_dict("list") == {"id": [1, 2, 3], "region": ["eu"] * 3, "day": ["2024-01-01", "2024-01-01", "2024-01-02"]}
        assert rec.data["layout"] == "hive" and rec.spec["source"] == root
        with pytest.raises(NotFoundError, match="no file or folder"):
            ws.datasets.ingest(f"{root}/nothing-here", "x")
        with pytest.raises(NotFoundError, match="holds no CSV, Parquet or JSON Lines file"):
            ws.datasets.ingest(f"{root}/*.csv", "x")
    finally:
        fs.rm(root, recursive=True)


def test_partition_values_are_typed(tmp_path: Path) -> None:
    write(tmp_path / "p" / "year=2024" / "a.csv", "x\n1\n")
    write(tmp_path / "p" / "year=2025" / "b.csv", "x\n2\n")
    write(tmp_path / "p" / "year=__HIVE_DEFAULT_PARTITION__" / "c.csv", "x\n3\n")
    table = read_source(str(tmp_path / "p")).table
    assert str(table.schema.field("year").type) == "int64"
    assert table.to_pydict() == {"x": [1, 2, 3], "year": [2024, 2025, None]}


# text that no CSV reader would take for a number, boolean or null: a letter first
_text = st.builds(lambda a, b: a + b, st.sampled_from("xyzé漢"), st.text(alphabet=st.sampled_from('ab ,"\n;é漢'), max_size=6))


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(-(10**12), 10**12), _text), min_size=1, max_size=15))
def test_csv_round_trip_matches_pandas(tmp_path: Path, rows: list[tuple[int, str]]) -> None:
    src = tmp_path / f"{uuid.uuid4().hex}.csv"
    pd.DataFrame(rows, columns=["n", "s"]).to_csv(src, index=False)
    table = read_source(str(src)).table
    expected = pd.read_csv(src, dtype={"s": str}, keep_default_na=False)
    assert table.column("n").to_pylist() == expected["n"].tolist()
    assert table.column("s").to_pylist() == expected["s"].tolist()
