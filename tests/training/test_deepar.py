"""DeepAR built-in: JSON Lines series in, quantile forecasts out, wQuantileLoss and coverage
computed independently; bad series refused at creation with the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch  # noqa: F401  (the torch extra, which make test installs: missing it fails)

from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, ValidationError
from forgeml.registry import load_model

PRED, CTX = 7, 14
HP = {"prediction_length": PRED, "context_length": CTX, "epochs": 15, "num_cells": 16, "num_layers": 1,
      "mini_batch_size": 16, "learning_rate": 0.01, "num_eval_samples": 200, "test_quantiles": "0.1,0.5,0.9"}  # fmt: skip


def _series(n_series: int = 12, length: int = 84, seed: int = 0) -> list[dict]:
    """Weekly-seasonal series in three groups (``cat``) with a promotion feature (``dynamic_feat``)
    that lifts the level; each record is ``length + PRED`` long (the test form)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_series):
        t = np.arange(length + PRED)
        group = i % 3
        level = 10.0 * (group + 1)
        promo = (rng.random(len(t)) < 0.15).astype(float)
        y = level * (1 + 0.3 * np.sin(2 * np.pi * t / 7)) + 0.4 * level * promo + rng.normal(scale=0.05 * level, size=len(t))
        out.append({"start": "2024-01-01 00:00:00", "target": y.round(3).tolist(), "cat": [group], "dynamic_feat": [promo.tolist()]})
    return out


def _write(path: Path, records: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def _wql(y: np.ndarray, q: np.ndarray, tau: float) -> float:
    return 2 * float(np.sum(np.abs((y - q) * ((y <= q) - tau)))) / float(np.sum(np.abs(y)))  # GluonTS' form


def test_deepar_forecasts_quantiles_with_coverage(ws: Workspace, tmp_path: Path) -> None:
    full = _series()
    train = [{**r, "target": r["target"][:-PRED]} for r in full]  # dynamic_feat prediction_length longer: allowed
    channels = {"train": _write(tmp_path / "train" / "series.jsonl", train), "test": _write(tmp_path / "test" / "series.json", full)}
    job = ws.training.create("ar-1", algorithm="deepar", channels=channels, hyperparameters=HP, wait=True)
    assert job.status == "Completed", job.failure_reason
    assert [m.step for m in ws.training.metrics("ar-1", "train:loss")] == list(range(15))
    model = load_model(ws.training.model_dir("ar-1"))
    assert model.manifest.task == "forecast" and model.manifest.feature_names == ["start", "target", "cat", "dynamic_feat"]
    assert [c["name"] for c in model.manifest.outputs()] == ["mean", "0.1", "0.5", "0.9"]
    history = pd.DataFrame([{**r, "target": r["target"][:-PRED]} for r in full])
    out = model.predict(history)
    actual = np.array([r["target"][-PRED:] for r in full])
    got = {m.key: m.value for m in ws.training.metrics("ar-1") if m.key.startswith("test:")}
    for tau in (0.1, 0.5, 0.9):
        q = np.array(out[f"{tau:g}"].tolist())
        assert got[f"test:wQuantileLoss[{tau:g}]"] == pytest.approx(_wql(actual, q, tau), rel=1e-6)
        assert got[f"test:coverage[{tau:g}]"] == pytest.approx(float(np.mean(actual <= q)))
    mean = np.array(out["mean"].tolist())
    assert got["test:RMSE"] == pytest.approx(float(np.sqrt(np.mean((mean - actual) ** 2))), rel=1e-6)
    lo, hi = np.array(out["0.1"].tolist()), np.array(out["0.9"].tolist())
    assert got["test:interval_coverage"] == pytest.approx(float(np.mean((actual >= lo) & (actual <= hi))))
    # better than forecasting each series' mean level, and the 80 % band covers most actuals
    flat = np.array([np.mean(r["target"][:-PRED]) for r in full])[:, None].repeat(PRED, axis=1)
    assert got["test:wQuantileLoss[0.5]"] < _wql(actual, flat, 0.5)
    assert got["test:interval_coverage"] > 0.5
    ws.registry.register("ar", training_job="ar-1")
    assert ws.registry.load("ar", 1).manifest.algorithm == "deepar"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: {k: v for k, v in r.items() if k != "start"}, r"series.jsonl line 2: missing 'start'"),
        (lambda r: {**r, "dynamic_feat": [r["dynamic_feat"][0], r["dynamic_feat"][0][:-3]]}, r"line 2: 'dynamic_feat' is ragged"),
        (lambda r: {**r, "target": r["target"][:CTX], "dynamic_feat": [r["dynamic_feat"][0][:CTX]]}, r"line 2: the series has 14 observations, shorter than context_length \+ prediction_length = 14 \+ 7"),
        (lambda r: {**r, "target": [*r["target"][:-1], "x"]}, r"line 2: 'target' holds 'x', not a number"),
        (lambda r: {**r, "cat": [-1]}, r"line 2: 'cat' must be a list of non-negative integers"),
    ],
)
def test_bad_series_are_refused_at_creation(ws: Workspace, tmp_path: Path, change: object, message: str) -> None:
    records = _series(3)
    records[1] = change(records[1])  # type: ignore[operator]
    with pytest.raises(ValidationError, match=message):
        ws.training.create("ar-bad", algorithm="deepar", channels={"train": _write(tmp_path / "series.jsonl", records)}, hyperparameters=HP)
    with pytest.raises(NotFoundError):  # nothing was stored
        ws.training.get("ar-bad")


def test_deepar_channel_and_hyperparameter_checks(ws: Workspace, tmp_path: Path) -> None:
    good = _write(tmp_path / "s.jsonl", _series(3))
    with pytest.raises(ValidationError, match="time_freq must be M, W, D, H, min"):
        ws.training.create("ar-f", algorithm="deepar", channels={"train": good}, hyperparameters={**HP, "time_freq": "fortnight"})
    with pytest.raises(ValidationError, match=r"deepar reads only 'train' and 'test' channels, not validation"):
        ws.training.create("ar-v", algorithm="deepar", channels={"train": good, "validation": good}, hyperparameters=HP)
    ws.datasets.create("flat", pd.DataFrame({"a": [1.0, 2.0]}))
    with pytest.raises(ValidationError, match=r"channel 'train' must be a path to \.json/\.jsonl files, not a dataset"):
        ws.training.create("ar-d", algorithm="deepar", channels={"train": "dataset/flat"}, hyperparameters=HP)
