"""Batch transform semantics in process: request cutting, filters, joins, formats, bad records."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.errors import ValidationError
from forgeml.registry import LoadedModel, load_model
from forgeml.serving._transform_batch import BatchProcessor
from forgeml.serving._transform_config import load_config
from forgeml.serving._transform_filters import RecordError
from forgeml.serving._transform_io import _multi_record, requests
from tests.registry._models import FEATURES, frame, hgb_package
from tests.registry.conftest import _one_thread  # noqa: F401  (autouse: OpenMP pinned to 1 thread)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(hgb_package(tmp_path_factory.mktemp("m") / "pkg"))


def _proc(model: LoadedModel, **params: object) -> BatchProcessor:
    return BatchProcessor(model, load_config({"model": "x", "inputs": ["x"], **params}))


def _expected(model: LoadedModel, n: int = 5, seed: int = 2) -> tuple[list[list[float]], list[str]]:
    X, _ = frame(n=n, seed=seed)
    out = model.predict(X)
    lines = [f"{lab},{p!r},{s!r}" for lab, p, s in zip(out.predicted_label, out.probability, out.score, strict=True)]
    return X.to_numpy().tolist(), lines


def _csv(rows: list[list[object]]) -> bytes:
    return "\n".join(",".join(repr(v) if isinstance(v, float) else str(v) for v in r) for r in rows).encode()


def test_csv_multi_record_matches_in_process_predictions(model: LoadedModel) -> None:
    rows, want = _expected(model)
    body, count = _proc(model, content_type="text/csv").process(_csv(rows) + b"\n")
    assert count == 5
    assert body.decode().split("\n") == want


def test_input_filter_join_and_output_filter_on_csv(model: LoadedModel) -> None:
    rows, want = _expected(model, n=3)
    with_ids = [[f"id-{i}", *r] for i, r in enumerate(rows)]
    data = _csv(with_ids)
    joined, _ = _proc(model, input_filter="$[1:]", join_source="Input").process(data)
    assert joined.decode().split("\n") == [f"{line},{w}" for line, w in zip(data.decode().split("\n"), want, strict=True)]
    picked, _ = _proc(model, input_filter="$[1:]", join_source="Input", output_filter="$[0,-1]").process(data)
    assert picked.decode().split("\n") == [f"id-{i},{w.split(',')[-1]}" for i, w in enumerate(want)]
    only_score, _ = _proc(model, output_filter="$[2]").process(_csv(rows))
    assert only_score.decode().split("\n") == [w.split(",")[2] for w in want]


def test_jsonlines_objects_join_and_named_output_filter(model: LoadedModel) -> None:
    rows, want = _expected(model, n=2)
    records = [{"id": i, **dict(zip(FEATURES, r, strict=True)), "note": "x"} for i, r in enumerate(rows)]
    data = b"\n".join(orjson.dumps(r) for r in records)
    proc = _proc(model, content_type="application/jsonlines", join_source="Input", output_filter="$['id','SageMakerOutput']")
    body, _ = proc.process(data)
    got = [orjson.loads(line) for line in body.split(b"\n")]
    assert [g["id"] for g in got] == [0, 1] and set(got[0]) == {"id", "SageMakerOutput"}
    assert [g["SageMakerOutput"]["score"] for g in got] == [float(w.split(",")[2]) for w in want]


def test_json_arrays_join_wraps_non_object_input(model: LoadedModel) -> None:
    rows, _ = _expected(model, n=1)
    body, _ = _proc(model, content_type="application/jsonlines", join_source="Input").process(orjson.dumps(rows[0]))
    got = orjson.loads(body)
    assert got["SageMakerInput"] == rows[0] and set(got["SageMakerOutput"]) == {"predicted_label", "probability", "score"}


def test_input_filter_selects_nested_features(model: LoadedModel) -> None:
    rows, want = _expected(model, n=2)
    data = b"\n".join(orjson.dumps({"features": r}) for r in rows)
    body, _ = _proc(model, content_type="application/jsonlines", accept="text/csv", input_filter="$.features").process(data)
    assert body.decode().split("\n") == want


def test_whole_json_document_gives_one_json_array(model: LoadedModel) -> None:
    rows, want = _expected(model, n=3)
    body, count = _proc(model, content_type="application/json").process(orjson.dumps(rows), whole_file=True)
    assert count == 3
    assert [o["score"] for o in orjson.loads(body)] == [float(w.split(",")[2]) for w in want]


@pytest.mark.parametrize(
    ("content_type", "data", "message"),
    [
        ("text/csv", b"1,2,3,4,5,6\n1,2,3\n", "line 2: record has 3 field"),
        ("text/csv", b"1,2,3,4,5,6\n1,2,abc,4,5,6\n", "line 2: field 'f2' value 'abc' is not a number"),
        ("text/csv", b"1,2,3,4,5,6,7\n", "line 1: record has 7 field"),
        ("application/jsonlines", b'{"f0": 1}\n', "line 1: record lacks field"),
        ("application/jsonlines", b"[1,2,3,4,5,6]\n{oops\n", "line 2: not valid JSON"),
        ("application/jsonlines", b"[1,2,3,4,5,6]\n[1,2,3,4,5,\"x\"]\n", "line 2: column 'f5' row 1: 'x' is not a number"),
    ],
)
def test_bad_records_name_their_line(model: LoadedModel, content_type: str, data: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _proc(model, content_type=content_type).process(data, first_line=1)


def test_requests_respect_max_payload(model: LoadedModel) -> None:
    line = b"x" * 100_000
    data = b"\n".join([line] * 25)
    cfg = load_config({"model": "m", "inputs": ["i"], "split_type": "Line", "max_payload_mb": 1})
    batches = list(requests(io.BytesIO(data), cfg))
    assert [b.count(b"\n") + 1 for b, _, _ in batches] == [10, 10, 5]  # 10 lines + 9 newlines <= 1 MiB
    assert [first for _, first, _ in batches] == [1, 11, 21]
    single = load_config({"model": "m", "inputs": ["i"], "split_type": "Line", "batch_strategy": "SingleRecord"})
    assert len(list(requests(io.BytesIO(data), single))) == 25
    with pytest.raises(RecordError, match="line 2: record is larger than max_payload_mb=1"):
        list(requests(io.BytesIO(b"a\n" + b"y" * 1_100_000), cfg))
    whole = load_config({"model": "m", "inputs": ["i"], "max_payload_mb": 1})
    with pytest.raises(RecordError, match="larger than max_payload_mb=1 and split_type None"):
        list(requests(io.BytesIO(data), whole))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), max_size=40), st.integers(min_value=40, max_value=120))
def test_multi_record_batches_keep_every_line_in_order(lengths: list[int], limit: int) -> None:
    lines = [b"r" * n for n in lengths]
    batches = list(_multi_record(io.BytesIO(b"\n".join(lines)), limit, 1))
    assert all(len(b) <= limit for b, _, _ in batches)
    rebuilt = [ln for b, _, _ in batches for ln in b.split(b"\n") if ln.strip()]
    assert rebuilt == [ln for ln in lines if ln.strip()]
    for body, first, _ in batches:  # the first line number points at the batch's first line
        assert lines[first - 1] == body.split(b"\n")[0]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"split_type": "None", "batch_strategy": "SingleRecord"}, "SingleRecord needs split_type Line"),
        ({"content_type": "image/png"}, "not supported"),
        ({"max_payload_mb": 101}, "max_payload_mb"),
        ({"assemble_with": "Comma"}, "assemble_with"),
        ({"bogus": 1}, "bogus"),
        ({"content_type": "application/jsonlines", "accept": "text/csv", "join_source": "Input"}, "needs text/csv input"),
    ],
)
def test_config_errors_name_the_field(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_config({"model": "m", "inputs": ["i"], **params})


def test_filters_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"input_filter .* is not valid JSONPath"):
        load_config({"model": "m", "inputs": [str(tmp_path)], "input_filter": "$[1:"}).check()
    with pytest.raises(ValidationError, match="at most 63"):
        load_config({"model": "m", "inputs": [str(tmp_path)], "output_filter": "$." + "a" * 70}).check()


def test_single_record_predictions_equal_multi_record(model: LoadedModel) -> None:
    rows, _ = _expected(model, n=4)
    multi, _ = _proc(model).process(_csv(rows))
    singles = [_proc(model, split_type="Line", batch_strategy="SingleRecord").process(_csv([r]))[0] for r in rows]
    assert b"\n".join(singles) == multi
    assert np.isfinite([float(x.split(b",")[2]) for x in singles]).all()


def test_defaults_follow_the_reference() -> None:
    files = load_config({"model": "m", "inputs": ["i"]})
    assert (files.content_type, files.accept, files.split_type, files.batch_strategy, files.max_payload_mb) == (
        "text/csv", "text/csv", "None", None, 6,
    )  # fmt: skip
    assert load_config({"model": "m", "inputs": ["i"], "split_type": "Line"}).batch_strategy == "MultiRecord"
    assert load_config({"model": "m", "dataset": "d:1"}).content_type == "application/jsonlines"
    assert load_config({"model": "m", "dataset": "d:1", "content_type": "text/csv"}).content_type == "text/csv"
    with pytest.raises(ValidationError, match="either inputs"):
        load_config({"model": "m", "inputs": ["i"], "dataset": "d"})


@settings(max_examples=80, deadline=None)
@given(
    st.integers(min_value=1, max_value=12),
    st.one_of(st.none(), st.integers(min_value=-12, max_value=12)),
    st.one_of(st.none(), st.integers(min_value=-12, max_value=12)),
)
def test_slice_filters_on_csv_fields_match_python_slicing(width: int, start: int | None, stop: int | None) -> None:
    from forgeml.serving._transform_filters import JsonFilter

    expr = f"$[{'' if start is None else start}:{'' if stop is None else stop}]"
    record = [f"v{i}" for i in range(width)]
    want = record[start:stop]
    flt = JsonFilter(expr, "input_filter")
    if want:
        assert flt.apply(record) == want
    else:
        with pytest.raises(RecordError, match="selects no field"):
            flt.apply(record)
