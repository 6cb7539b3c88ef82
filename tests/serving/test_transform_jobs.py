"""Batch transform jobs end to end: real job processes, files in and .out files back."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import JobFailedError, NotFoundError, ValidationError
from tests.registry._models import FEATURES, frame, hgb_package
from tests.registry.conftest import _one_thread  # noqa: F401  (autouse: OpenMP pinned to 1 thread)


@pytest.fixture
def registered(ws: Workspace, tmp_path: Path) -> str:
    ws.registry.register("loans", hgb_package(tmp_path / "pkg"))
    ws.registry.approve("loans", 1)
    ws.registry.set_alias("loans", "champion", 1)
    return "loans:champion"


def _write_csv(path: Path, n: int, seed: int) -> list[str]:
    X, _ = frame(n=n, seed=seed)
    path.write_text("\n".join(",".join(repr(v) for v in row) for row in X.to_numpy().tolist()) + "\n")
    return path.read_text().splitlines()


def test_files_in_order_bad_file_fails_alone(ws: Workspace, registered: str, tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    good_a = _write_csv(data / "a.csv", 40, 1)
    lines_b = _write_csv(data / "b.csv", 30, 2)
    lines_b[17] = lines_b[17].replace(",", ",oops,", 1)
    (data / "b.csv").write_text("\n".join(lines_b) + "\n")
    good_c = _write_csv(data / "c.csv", 25, 3)
    out = tmp_path / "out"
    job = ws.transforms.create(
        registered, [data], output_path=out, split_type="Line", batch_strategy="MultiRecord",
        assemble_with="Line", join_source="Input", max_concurrent_transforms=2,
    )  # fmt: skip
    with pytest.raises(JobFailedError, match=r"1 of 3 input file\(s\) failed; b.csv: line 18: record has 7 field"):
        ws.transforms.wait(job.name, timeout=120)
    assert sorted(p.name for p in out.iterdir()) == ["a.csv.out", "c.csv.out"]
    model = ws.registry.load("loans", 1)
    for name, lines, seed in (("a", good_a, 1), ("c", good_c, 3)):
        got = (out / f"{name}.csv.out").read_text().splitlines()
        X, _ = frame(n=len(lines), seed=seed)
        scores = model.predict(X)["score"].tolist()
        assert [g.rsplit(",", 3)[0] for g in got] == lines  # input first, in input order
        assert [float(g.rsplit(",", 1)[1]) for g in got] == scores
    info = ws.transforms.describe(job.name)
    assert [f["status"] for f in info["files"]] == ["Completed", "Failed", "Completed"]
    assert [f["records"] for f in info["files"]] == [40, 0, 25]
    job_ref = f"job/{job.name}"
    assert "model/loans:1" in ws.lineage.upstream(job_ref).refs()
    assert any(r.startswith("artifact/") for r in ws.jobs.get(job.name).outputs)


def test_dataset_input_jsonlines_with_single_records(ws: Workspace, registered: str) -> None:
    X, y = frame(n=12, seed=4)
    ws.datasets.create("loans-test", X.assign(label=y, application_id=range(100, 112)))
    job = ws.transforms.create(
        registered, dataset="loans-test", content_type="application/jsonlines", split_type="Line",
        batch_strategy="SingleRecord", assemble_with="Line", join_source="Input",
        output_filter="$['application_id','SageMakerOutput']", wait=True, timeout=120,
    )  # fmt: skip
    assert job.status == "Completed"
    (result,) = ws.transforms.describe(job.name)["files"]
    rows = [orjson.loads(x) for x in Path(result["output"]).read_text().splitlines()]
    assert [r["application_id"] for r in rows] == list(range(100, 112))
    want = ws.registry.load("loans", 1).predict(X)["score"].tolist()
    assert [r["SageMakerOutput"]["score"] for r in rows] == want
    assert "dataset/loans-test:1" in ws.lineage.upstream(f"job/{job.name}").refs()
    assert ws.transforms.progress(job.name) == (1.0, 12)


def test_assemble_none_concatenates_single_record_responses(ws: Workspace, registered: str, tmp_path: Path) -> None:
    src = tmp_path / "rows.csv"
    _write_csv(src, 3, 5)
    job = ws.transforms.create(
        registered, src, split_type="Line", batch_strategy="SingleRecord", output_filter="$[0]",
        output_path=tmp_path / "o", wait=True, timeout=120,
    )  # fmt: skip
    labels = ws.registry.load("loans", 1).predict(frame(n=3, seed=5)[0])["predicted_label"].tolist()
    assert (tmp_path / "o" / "rows.csv.out").read_text() == "".join(str(v) for v in labels)
    assert ws.transforms.get(job.name).status == "Completed"


def test_create_refuses_bad_requests_before_starting_a_job(ws: Workspace, registered: str, tmp_path: Path) -> None:
    src = tmp_path / "rows.csv"
    _write_csv(src, 3, 5)
    with pytest.raises(NotFoundError, match="unknown alias 'gold' of model 'loans'"):
        ws.transforms.create("loans:gold", src)
    with pytest.raises(NotFoundError, match="model 'nope' does not exist"):
        ws.transforms.create("nope:1", src)
    with pytest.raises(ValidationError, match="does not exist"):
        ws.transforms.create(registered, tmp_path / "missing.csv")
    with pytest.raises(ValidationError, match="is not valid JSONPath"):
        ws.transforms.create(registered, src, input_filter="$[")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.out").write_text("old")
    with pytest.raises(ValidationError, match="not empty"):
        ws.transforms.create(registered, src, output_path=tmp_path / "full")
    with pytest.raises(NotFoundError):
        ws.transforms.create(registered, dataset="no-such-dataset")
    assert ws.transforms.list() == []
    assert FEATURES  # the model's signature the files follow


def test_stopping_a_transform_leaves_no_partial_output(ws: Workspace, registered: str, tmp_path: Path) -> None:
    import time

    src = tmp_path / "big.csv"
    _write_csv(src, 20_000, 6)
    out = tmp_path / "o"
    job = ws.transforms.create(registered, src, split_type="Line", batch_strategy="SingleRecord", output_path=out)
    deadline = time.monotonic() + 90
    while ws.transforms.progress(job.name)[1] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ws.transforms.progress(job.name)[1] > 0  # it was writing when asked to stop
    stopped = ws.transforms.stop(job.name, wait=True)
    assert stopped.status == "Stopped"
    assert list(out.iterdir()) == []
