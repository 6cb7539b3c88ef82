"""Request parsing against the signature, and response encoding."""

from __future__ import annotations

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
