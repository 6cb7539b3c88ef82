"""Request parsing against the signature, and response encoding."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.errors import UnsupportedMediaTypeError, ValidationError
from forgeml.serving._codecs import NotAcceptableError, Signature, accept_type, encode, media_type

SIG = Signature([{"name": "x1", "type": "float64"}, {"name": "x2", "type": "int64"}, {"name": "color", "type": "object"}])


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"1.5,2,red\n-3,4,blue\n", "text/csv"),
        (b'1.5,2,"red"\r\n-3,4,blue', "text/csv"),
        (b'[[1.5, 2, "red"], [-3, 4, "blue"]]', "application/json"),
        (b'{"instances": [[1.5, 2, "red"], {"x1": -3, "x2": 4, "color": "blue"}]}', "application/json"),
        (b'[{"x1": 1.5, "x2": 2, "color": "red"}, {"color": "blue", "x2": 4, "x1": -3}]', "application/json"),
        (b'{"columns": ["color", "x1", "x2"], "data": [["red", 1.5, 2], ["blue", -3, 4]]}', "application/json"),
        (b'{"dataframe_split": {"columns": ["x1", "x2", "color"], "data": [[1.5, 2, "red"], [-3, 4, "blue"]]}}', "application/json"),
        (b'{"x1": 1.5, "x2": 2, "color": "red"}\n{"x1": -3, "x2": 4, "color": "blue"}\n', "application/jsonlines"),
    ],
)
def test_every_accepted_shape_gives_the_same_rows(body: bytes, content_type: str) -> None:
    assert SIG.parse(body, content_type) == [[1.5, 2.0, "red"], [-3.0, 4.0, "blue"]]


def test_single_record_forms() -> None:
    assert SIG.parse(b'[1, 2, "red"]', "application/json") == [[1.0, 2.0, "red"]]
    assert SIG.parse(b'{"x1": 1, "x2": 2, "color": "red"}', "application/json") == [[1.0, 2.0, "red"]]


def test_missing_values_become_nan_or_none() -> None:
    rows = SIG.parse(b",3,\n", "text/csv")
    assert math.isnan(rows[0][0]) and rows[0][1] == 3.0 and rows[0][2] is None
    rows = SIG.parse(b"[[null, 3, null]]", "application/json")
    assert math.isnan(rows[0][0]) and rows[0][2] is None


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"1,2\n", "text/csv", "record 0: expected 3 value(s), got 2"),
        (b"1,2,red\n1,2,red,4\n", "text/csv", "record 1: expected 3 value(s), got 4"),
        (b"1,abc,red", "text/csv", "record 0 column 'x2': 'abc' is not a number"),
        (b'{"x1": 1, "x2": ', "application/json", "malformed JSON"),
        (b'[[1, "2", "red"]]', "application/json", "record 0 column 'x2': expected a number, got str"),
        (b'[{"x1": 1, "x2": 2}]', "application/json", "record 0: missing column(s) color"),
        (b'[{"x1": 1, "x2": 2, "color": "red", "zz": 1}]', "application/json", "record 0: unknown column(s) zz"),
        (b'[[1, 2, {"a": 1}]]', "application/json", "expected a scalar"),
        (b'"text"', "application/json", "JSON body must be"),
        (b"[]", "application/json", "no records"),
        (b"", "text/csv", "no records"),
        (b"\xff\xfe", "text/csv", "not UTF-8"),
        (b'{"x1": 1, "x2": 2, "color": "red"}\n{oops\n', "application/jsonlines", "malformed JSON on line 2"),
    ],
)
def test_bad_bodies_are_refused_with_where(body: bytes, content_type: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        SIG.parse(body, content_type)
    assert words in str(err.value)


def test_unsupported_content_type_and_accept() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        SIG.parse(b"1,2,red", "application/x-protobuf")
    assert media_type("Text/CSV; charset=utf-8") == "text/csv"
    assert accept_type(None, "text/csv") == "application/json"
    assert accept_type("text/csv", "application/json") == "text/csv"
    assert accept_type("application/xml, text/csv;q=0.5", "text/csv") == "text/csv"
    assert accept_type("*/*", "text/csv") == "application/json"
    with pytest.raises(NotAcceptableError) as err:
        accept_type("image/png", "text/csv")
    assert err.value.http_status == 406


def test_encode_json_csv_jsonlines() -> None:
    preds = [{"predicted_label": "yes", "probability": 0.75}, {"predicted_label": "no", "probability": float("nan")}]
    assert orjson.loads(encode(preds, "application/json")) == {
        "predictions": [{"predicted_label": "yes", "probability": 0.75}, {"predicted_label": "no", "probability": None}]
    }
    assert encode(preds, "text/csv") == b"yes,0.75\nno,\n"
    assert next(orjson.loads(line) for line in encode(preds, "application/jsonlines").splitlines())["probability"] == 0.75


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, st.integers(-10**6, 10**6), st.text(alphabet="abcxyz ,\"", min_size=1, max_size=6)), min_size=1, max_size=8))
def test_csv_and_json_round_trip(rows: list[tuple[float, int, str]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    from_csv = SIG.parse(buf.getvalue().encode(), "text/csv")
    from_json = SIG.parse(orjson.dumps([list(r) for r in rows]), "application/json")
    expected = [[float(a), float(b), c.strip()] for a, b, c in rows]
    assert [[r[0], r[1], r[2].strip()] for r in from_json] == expected
    assert from_csv == [[a, b, c if c else None] for a, b, c in expected]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"dataframe_split": 5}', "'dataframe_split' must be an object with 'columns' and 'data'"),
        (b'{"dataframe_split": {"columns": ["x1"]}}', "'dataframe_split' must be an object"),
        (b'{"dataframe_split": {"data": 3}}', "'dataframe_split.data' must be a list of rows, got a number"),
        (b'{"dataframe_split": {"columns": "x1", "data": []}}', "'dataframe_split.columns' must be a list of column names"),
        (b'{"columns": [["a"], "b", "c", "d"], "data": [[1, 2, 3, 4]]}', "'columns' item 0 must be a column name (a string), got a list"),
        (b'{"columns": [{"a": 1}], "data": [[1]]}', "'columns' item 0 must be a column name"),
        (b'{"columns": ["x1", "x1", "x2"], "data": [[1, 2, 3]]}', "'columns' names x1 more than once"),
        (b'{"columns": ["x1", "x2"], "data": [[1, 2]]}', "'columns': missing column(s) color"),
        (b'{"columns": ["x1", "x2", "zz"], "data": [[1, 2, 3]]}', "'columns': unknown column(s) zz"),
        (b'{"columns": ["color", "x1", "x2"], "data": [5]}', "'data' record 0: expected 3 value(s)"),
        (b'{"instances": 5}', "'instances' must be a list of records, got a number"),
        (b'{"inputs": {"x1": 1}}', "'inputs' must be a list of records, got an object"),
        (b'{"instances": [5]}', "record 0: expected 3 value(s), got 1"),
        (b'[5, [1, 2, "red"]]', "record 0: expected 3 value(s), got 2"),
        (b'[[1, 2, "red"], 5]', "record 1: expected a list of values or an object of columns, got a number"),
        (b'{"data": [[1, 2, "red"]], "x": 1}', "unknown column(s) data, x"),
        (b"1,inf,red\n", "record 0 column 'x2': 'inf' is infinite"),
        (b"-Infinity,1,red\n", "record 0 column 'x1': '-Infinity' is infinite"),
    ],
)
def test_malformed_shapes_are_refused_naming_the_field(body: bytes, words: str) -> None:
    content_type = "text/csv" if not body.startswith((b"{", b"[")) else "application/json"
    with pytest.raises(ValidationError) as err:
        SIG.parse(body, content_type)
    assert words in str(err.value) and "\n" not in str(err.value)


WIDE = Signature([{"name": f"c{i:02d}", "type": "float64"} for i in range(14)])


def test_missing_and_unknown_columns_are_all_named_or_counted() -> None:
    with pytest.raises(ValidationError) as err:
        WIDE.parse(b'{"c00": 1}', "application/json")
    names = ", ".join(f"c{i:02d}" for i in range(1, 11))
    assert str(err.value) == f"record 0: missing column(s) {names} and 3 more (13 in all)"
    with pytest.raises(ValidationError) as err:
        WIDE.parse(orjson.dumps({**{f"c{i:02d}": 1 for i in range(8)}}), "application/json")
    assert str(err.value) == "record 0: missing column(s) c08, c09, c10, c11, c12, c13"
    with pytest.raises(ValidationError) as err:
        SIG.parse(orjson.dumps({"x1": 1, "x2": 2, "color": "r", **{f"z{i}": 1 for i in range(12)}}), "application/json")
    assert str(err.value).endswith("z9 and 2 more (12 in all)")


def test_nan_text_is_a_missing_value() -> None:
    rows = SIG.parse(b"nan,NaN,red\n", "text/csv")
    assert math.isnan(rows[0][0]) and math.isnan(rows[0][1])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5)
    | st.sampled_from(["x1", "x2", "color", "columns", "data", "instances", "inputs", "dataframe_split", "index"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["x1", "x2", "color", "columns", "data", "instances", "inputs", "dataframe_split", "index", "z"]),
        inner, max_size=4,
    ),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=400, deadline=None, derandomize=True)
@given(json_values)
def test_any_json_shape_parses_or_is_refused_cleanly(value: object) -> None:
    try:
        rows = SIG.parse(json.dumps(value).encode(), "application/json")
    except ValidationError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert rows and all(len(r) == 3 for r in rows)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=60) | st.text(alphabet='0123456789.,-"\n\r einfa\x00', max_size=40).map(str.encode),
       st.sampled_from(["text/csv", "application/json", "application/jsonlines"]))  # fmt: skip
def test_any_bytes_parse_or_are_refused_cleanly(body: bytes, content_type: str) -> None:
    try:
        rows = SIG.parse(body, content_type)
    except ValidationError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert rows and all(len(r) == 3 for r in rows)


@pytest.mark.parametrize("accept", ["application/json", "application/jsonlines", "text/csv"])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 30])
def test_encoding_in_chunks_gives_the_same_bytes(accept: str, n: int) -> None:
    from forgeml.serving._large import encode_in_chunks

    preds = [{"predicted_label": i % 2, "probability": i / 40} for i in range(n)]
    assert encode_in_chunks(preds, accept, 8) == encode(preds, accept)
