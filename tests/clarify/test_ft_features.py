"""Which columns the flip test (FT) runs its kNN on, by default and when named (SDK, CLI, REST)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forgeml.clarify import bias_report
from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.settings import Settings
from tests.cli_runner import run_cli
from tests.evaluation.helpers import loans_frame, save_binary


def _ft(report: dict, facet: str = "black") -> dict:
    metrics = report["post_training_bias_metrics"]["facets"][facet][0]["metrics"]
    return next(m for m in metrics if m["name"] == "FT")


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "x": rng.normal(0, 1, n).round(3),
        "black": rng.integers(0, 2, n),
        "group": rng.choice(["north", "south", "east"], n),  # text group variable
        "note": rng.choice(["a", "b"], n),  # another text column
    })  # fmt: skip
    frame["y"] = (frame.x > 0).astype(int)
    frame["pred"] = ((frame.x + 0.3 * frame.black) > 0).astype(int)
    return frame


def test_default_ft_features_leave_out_group_variable_and_text_columns() -> None:
    frame = _frame()
    report = bias_report(frame, label="y", label_values_or_threshold=[1], facets=["black=1"], predicted_label="pred",
                         group_variable="group", post_training_methods=["FT"])  # fmt: skip
    ft = _ft(report)
    assert "error" not in ft, ft  # today: "FlipTest does not support non-numeric columns (group, note)"
    explicit = bias_report(frame, label="y", label_values_or_threshold=[1], facets=["black=1"], predicted_label="pred",
                           group_variable="group", post_training_methods=["FT"], ft_features=["x"])  # fmt: skip
    assert ft["value"] == _ft(explicit)["value"]  # label, prediction, facet, group and text columns all left out


def test_numeric_group_variable_is_not_an_ft_feature() -> None:
    frame = _frame().assign(group=lambda f: f.x.rank().astype(int) % 3)  # numeric group, would change the kNN
    kw = {"label": "y", "label_values_or_threshold": [1], "facets": ["black=1"], "predicted_label": "pred", "post_training_methods": ["FT"]}
    default = bias_report(frame, group_variable="group", **kw)
    assert _ft(default)["value"] == _ft(bias_report(frame, group_variable="group", ft_features=["x"], **kw))["value"]


def test_explicit_text_ft_feature_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match=r"FT feature\(s\) 'note': FlipTest needs numeric columns"):
        bias_report(_frame(), label="y", label_values_or_threshold=[1], facets=["black=1"], predicted_label="pred", ft_features=["x", "note"])
    with pytest.raises(ValidationError, match="FT feature 'nope'"):
        bias_report(_frame(), label="y", label_values_or_threshold=[1], facets=["black=1"], predicted_label="pred", ft_features=["nope"])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_binary(tmp_path_factory.mktemp("pkg") / "model", loans_frame(300))


def test_model_default_leaves_out_the_facet_and_cli_takes_ft_features(ws: Workspace, settings: Settings, model_dir: Path) -> None:
    frame = loans_frame(200, seed=3)
    ws.datasets.create("loans", frame)
    kw = {"label": "approve", "facets": ["black=1"], "model": model_dir, "group_variable": "region", "post_training_methods": ["FT"], "methods": ["CI"]}
    default = _ft(ws.clarify.report(ws.clarify.bias("loans", **kw)))
    named = _ft(ws.clarify.report(ws.clarify.bias("loans", ft_features=["income", "debt"], **kw)))
    assert "error" not in default and default["value"] == named["value"]  # the model's inputs minus the facet
    only_income = _ft(ws.clarify.report(ws.clarify.bias("loans", ft_features=["income"], **kw)))
    ws.close()
    home = Path(settings.home)
    out = run_cli(home, "clarify", "bias", "-d", "loans", "--label", "approve", "-f", "black=1", "--model", str(model_dir),
                  "--group-variable", "region", "--post-methods", "FT", "--methods", "CI", "--ft-features", "income", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert _ft(doc)["value"] == only_income["value"]
    bad = run_cli(home, "clarify", "bias", "-d", "loans", "--label", "approve", "-f", "black=1", "--model", str(model_dir),
                  "--ft-features", "region")  # fmt: skip
    assert bad.returncode != 0 and "FT feature(s) 'region'" in bad.stderr and "Traceback" not in bad.stderr


def test_rest_bias_takes_ft_features_and_refuses_a_text_one(ws: Workspace) -> None:
    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app

    rows = _frame(40).to_dict(orient="records")
    body = {"rows": rows, "label": "y", "facets": ["black=1"], "predicted_label": "pred", "group_variable": "group",
            "methods": ["CI"], "post_training_methods": ["FT"]}  # fmt: skip
    with TestClient(create_app(ws)) as client:
        default = client.post("/clarify/bias", json=body)
        named = client.post("/clarify/bias", json={**body, "ft_features": ["x"]})
        text = client.post("/clarify/bias", json={**body, "ft_features": ["group"]})
    assert default.status_code == named.status_code == 201, default.text
    assert _ft(default.json()["analysis"])["value"] == _ft(named.json()["analysis"])["value"]
    assert text.status_code == 400 and "FT feature(s) 'group': FlipTest needs numeric columns" in text.json()["message"]
