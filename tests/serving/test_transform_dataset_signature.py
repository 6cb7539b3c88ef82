"""A dataset transformed as CSV goes through the model's signature: its inputs by name, label and extras left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from tests.cli_runner import run_cli as forgeml
from tests.registry._models import FEATURES, frame, hgb_package
from tests.registry.conftest import _one_thread  # noqa: F401  (autouse: OpenMP pinned to 1 thread)


@pytest.fixture
def registered(ws: Workspace, tmp_path: Path) -> str:
    ws.registry.register("loans", hgb_package(tmp_path / "pkg"))
    return "loans:1"


def _dataset(ws: Workspace) -> None:
    X, y = frame(n=15, seed=6)
    # label first, an id, and the model's inputs in another order: 9 columns for a 6-input model
    shuffled = X[list(reversed(FEATURES))]
    ws.datasets.create("scored", shuffled.assign(label=y, application_id=range(15), note="x")[["label", "application_id", *reversed(FEATURES), "note"]])


def test_csv_dataset_keeps_the_models_columns_in_its_order(ws: Workspace, registered: str, tmp_path: Path) -> None:
    _dataset(ws)
    out = tmp_path / "out"
    job = ws.transforms.create(registered, dataset="scored", content_type="text/csv", split_type="Line",
                               output_path=out, wait=True, timeout=120)  # fmt: skip
    assert job.status == "Completed"
    got = [float(line.rsplit(",", 1)[1]) for line in (out / "scored-1.csv.out").read_text().splitlines()]
    assert got == ws.registry.load("loans", 1).predict(frame(n=15, seed=6)[0])["score"].tolist()


def test_cli_transform_dataset_on_its_defaults(ws: Workspace, registered: str) -> None:
    _dataset(ws)
    ws.close()
    out = forgeml(ws.home, "transform", "create", registered, "--dataset", "scored", "--wait")
    assert out.returncode == 0, out.stderr  # today: "record has 9 field(s) after input_filter, the model expects 6"
    assert "Completed" in out.stdout
    csv = forgeml(ws.home, "transform", "create", registered, "--dataset", "scored", "--content-type", "text/csv", "--wait")
    assert csv.returncode == 0, csv.stderr


def test_dataset_without_the_models_inputs_is_refused_at_create(ws: Workspace, registered: str) -> None:
    X, _ = frame(n=5, seed=1)
    ws.datasets.create("partial", X.drop(columns=["f2", "f4"]))
    with pytest.raises(ValidationError, match=r"dataset partial lacks the model's input column\(s\) f2, f4 \(of 6\)"):
        ws.transforms.create(registered, dataset="partial", content_type="text/csv")
    assert ws.transforms.list() == []
