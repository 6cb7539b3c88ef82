"""Bad requests are refused before launch, with errors that name what is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, ValidationError
from forgeml.training import ALGORITHMS, get_algorithm
from forgeml.training._toolkit import user_args

SCRIPTS = Path(__file__).parent / "scripts"


@pytest.fixture(scope="module")
def shared_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace with datasets ``tr`` and ``va`` for the refusal cases (nothing launches)."""
    from forgeml.settings import load_settings

    from .conftest import make_frame

    ws = Workspace(load_settings(home=str(tmp_path_factory.mktemp("refusals"))))
    frame = make_frame(40)
    ws.datasets.create("tr", frame.iloc[:30])
    ws.datasets.create("va", frame.iloc[30:])
    yield ws
    ws.close()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"algorithm": "deep-magic"}, ValidationError, "unknown algorithm 'deep-magic' \\(built-in: xgboost, lightgbm"),
        ({"algorithm": "xgboost", "hyperparameters": {"etaa": 0.1}}, ValidationError, "unknown hyperparameter\\(s\\) 'etaa' for xgboost"),
        ({"algorithm": "xgboost", "hyperparameters": {"eta": 2}}, ValidationError, r"'eta' of xgboost must be a float in \[0, 1\], got 2"),
        ({"algorithm": "xgboost", "hyperparameters": {"max_depth": "deep"}}, ValidationError, r"'max_depth' of xgboost must be an int in \[0, 64\]"),
        ({"algorithm": "lightgbm", "hyperparameters": {"learning_rate": 1.0}}, ValidationError, r"must be a float in \(0, 1\)"),
        ({"algorithm": "linear-learner", "hyperparameters": {"predictor_type": "tree"}}, ValidationError, "one of auto, binary_classifier"),
        ({"algorithm": "xgboost", "target": None}, ValidationError, "xgboost is supervised: give target="),
        ({"algorithm": "xgboost", "channels": {"validation": "dataset/va"}}, ValidationError, "needs a 'train' channel"),
        ({"algorithm": "xgboost", "channels": {"train": "dataset/missing"}}, NotFoundError, "channel 'train': dataset 'missing' does not exist"),
        ({"algorithm": "xgboost", "channels": {"train": "dataset/tr:9"}}, NotFoundError, r"channel 'train': dataset 'tr' has no version 9 \(latest is 1\)"),
        ({"algorithm": "xgboost", "channels": {"train": "/no/such/file.csv"}}, NotFoundError, "path '/no/such/file.csv' does not exist"),
        ({"algorithm": "xgboost", "channels": {"bad name": "dataset/tr"}}, ValidationError, "invalid channel name"),
        ({"algorithm": "xgboost", "target": "nope"}, ValidationError, "channel 'train' has no column\\(s\\) 'nope'"),
        ({"algorithm": "xgboost", "max_runtime_seconds": 0}, ValidationError, "max_runtime_seconds must be in"),
        ({"algorithm": "xgboost", "max_runtime_seconds": 29 * 86400}, ValidationError, "28 days"),
        ({"algorithm": "xgboost", "script": "x.py"}, ValidationError, "exactly one of algorithm="),
        ({"algorithm": None}, ValidationError, "exactly one of algorithm="),
        ({"algorithm": None, "script": "/nope/train.py"}, NotFoundError, "script '/nope/train.py' does not exist"),
        ({"algorithm": None, "script": "train.py", "source_dir": str(SCRIPTS)}, NotFoundError, "does not exist in"),
        ({"algorithm": "xgboost", "metric_definitions": [{"Name": "x", "Regex": "no group"}]}, ValidationError, "needs a group"),
        ({"algorithm": "xgboost", "metric_definitions": [{"Name": "x", "Regex": "(("}]}, ValidationError, "invalid regex"),
        ({"algorithm": "xgboost", "rules": ["Nope"]}, ValidationError, "unknown debugger rule"),
        ({"algorithm": "xgboost", "name": "bad_name!"}, ValidationError, "invalid training job name"),
    ],
)
def test_bad_requests_are_refused_before_launch(
    shared_ws: Workspace, kwargs: dict, error: type[Exception], match: str
) -> None:
    request = {"channels": {"train": "dataset/tr", "validation": "dataset/va"}, "target": "y", **kwargs}
    with pytest.raises(error, match=match):
        shared_ws.training.create(**request)
    assert shared_ws.jobs.list() == []
    assert shared_ws.metadata.list_resources("training-job") == []


def test_non_numeric_columns_need_a_recipe(shared_ws: Workspace) -> None:
    import pandas as pd

    shared_ws.datasets.create("mixed", pd.DataFrame({"x": [1.0, 2.0, 3.0], "city": ["a", "b", "a"], "y": [0, 1, 0]}))
    with pytest.raises(ValidationError, match="non-numeric input column\\(s\\) city"):
        shared_ws.training.create(algorithm="xgboost", channels={"train": "dataset/mixed"}, target="y")


def test_every_default_is_valid_for_its_own_parameter() -> None:
    for algo in ALGORITHMS.values():
        resolved = algo.validate({})
        for param in algo.params:
            assert param.coerce(param.default, algo.name) == resolved[param.name] if param.default is not None else param.nullable


@given(st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8) | st.integers(-10**6, 10**6))
@settings(max_examples=150, deadline=None)
def test_eta_accepts_exactly_the_unit_interval(value: object) -> None:
    xgb = get_algorithm("xgboost")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = None
    ok = number is not None and 0 <= number <= 1 and not isinstance(value, bool)
    if ok:
        assert xgb.validate({"eta": value})["eta"] == number
    else:
        with pytest.raises(ValidationError, match="'eta' of xgboost"):
            xgb.validate({"eta": value})


def test_user_args_follow_the_toolkit() -> None:
    assert user_args({"epochs": 3, "lr": 0.1, "b": True, "opt": {"m": 1, "a": "x"}}) == [
        "-b", "True", "--epochs", "3", "--lr", "0.1", "--opt", "a=x,m=1",
    ]  # fmt: skip
