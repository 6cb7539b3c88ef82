"""Splits and class balance: sizes, stratification, time order, disjoint groups, folds, resampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.core.workspace import Workspace
from forgeml.data._prep_service import DataPrepService
from forgeml.data._split import class_weights, kfold, rebalance, split
from forgeml.errors import ValidationError


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 400
    return pd.DataFrame({
        "x": rng.normal(size=n), "z": rng.normal(size=n), "cat": rng.choice(["a", "b"], n),
        "customer": rng.integers(0, 60, n), "when": pd.date_range("2024-01-01", periods=n, freq="h"),
        "y": (rng.random(n) < 0.1).astype(int),
    })  # fmt: skip


def test_random_split_sizes_and_partition(frame: pd.DataFrame) -> None:
    parts = split(frame, "random", (0.7, 0.15, 0.15), seed=3)
    assert [len(p) for p in parts.values()] == [280, 60, 60]
    idx = np.concatenate([p.index for p in parts.values()])
    assert sorted(idx) == list(frame.index)
    again = split(frame, "random", (0.7, 0.15, 0.15), seed=3)
    assert all(parts[k].index.equals(again[k].index) for k in parts)


def test_stratified_split_keeps_class_shares(frame: pd.DataFrame) -> None:
    parts = split(frame, "stratified", (0.6, 0.2, 0.2), target="y", seed=0)
    positives = int(frame["y"].sum())
    for name, share in (("train", 0.6), ("validation", 0.2), ("test", 0.2)):
        assert abs(int(parts[name]["y"].sum()) - positives * share) <= 1


def test_temporal_split_orders_by_time(frame: pd.DataFrame) -> None:
    parts = split(frame.sample(frac=1, random_state=0), "temporal", (0.8, 0.2), time_column="when")
    assert parts["train"]["when"].max() < parts["test"]["when"].min()
    assert len(parts["train"]) == 320
    cut = split(frame, "temporal", time_column="when", cutoffs=["2024-01-05", "2024-01-10"])
    assert cut["validation"]["when"].min() == pd.Timestamp("2024-01-05")
    assert cut["test"]["when"].min() == pd.Timestamp("2024-01-10")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), groups=st.integers(3, 40))
def test_group_split_never_shares_an_entity(seed: int, groups: int) -> None:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"g": rng.integers(0, groups, 300), "v": rng.normal(size=300)})
    if df["g"].nunique() < 3:
        df.loc[:2, "g"] = [1001, 1002, 1003]
    parts = split(df, "group", (0.6, 0.2, 0.2), group_column="g", seed=seed)
    sets = [set(p["g"]) for p in parts.values()]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sum(len(p) for p in parts.values()) == 300


def test_kfold_variants(frame: pd.DataFrame) -> None:
    folds = kfold(frame, 4, target="y", seed=0)
    assert len(folds) == 4
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests) == list(frame.index)
    for _, te in folds:
        assert abs(frame.loc[te, "y"].sum() - frame["y"].sum() / 4) <= 1
    for tr, te in kfold(frame, 3, group_column="customer"):
        assert not set(frame.loc[tr, "customer"]) & set(frame.loc[te, "customer"])


def test_class_weights_and_resampling(frame: pd.DataFrame) -> None:
    counts = frame["y"].value_counts()
    weights = class_weights(frame["y"])
    assert weights[1] == pytest.approx(len(frame) / (2 * counts[1]))
    data = frame[["x", "z", "y"]]
    over = rebalance(data, "y", "oversample")
    assert over["y"].value_counts().tolist() == [counts[0], counts[0]]
    under = rebalance(data, "y", "undersample")
    assert under["y"].value_counts().tolist() == [counts[1], counts[1]]
    smote = rebalance(data, "y", "smote", seed=0)
    new = smote[smote["y"] == 1]
    assert len(new) == counts[0]
    # synthetic minority points lie inside the minority class's bounding box (interpolation)
    minority = data[data["y"] == 1]
    assert new["x"].between(minority["x"].min(), minority["x"].max()).all()
    with_cat = rebalance(frame[["x", "cat", "y"]], "y", "smote")
    assert set(with_cat["cat"]) <= {"a", "b"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "shuffle"}, "unknown split method"),
        ({"method": "random", "fractions": (0.5, 0.6)}, "summing to 1"),
        ({"method": "stratified"}, "needs a column"),
        ({"method": "stratified", "target": "x"}, "at most 100"),
        ({"method": "temporal", "time_column": "nope"}, "'nope' not in the data"),
    ],
)
def test_split_errors(frame: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        split(frame, **kwargs)


def test_service_split_writes_three_datasets(ws: Workspace, frame: pd.DataFrame) -> None:
    ws.datasets.create("events", frame)
    parts = DataPrepService(ws).split("events", method="stratified", target="y", prefix="ev")
    assert {k: r.ref for k, r in parts.items()} == {
        "train": "dataset/ev-train:1", "validation": "dataset/ev-validation:1", "test": "dataset/ev-test:1",
    }  # fmt: skip
    assert sum(r.data["rows"] for r in parts.values()) == len(frame)
    assert ws.datasets.read("ev-test").columns.tolist() == frame.columns.tolist()
