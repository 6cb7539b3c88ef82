"""A real tuning job over the built-in XGBoost training jobs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forgeml.core.workspace import Workspace
from forgeml.registry.package import load_model


def test_tuning_xgboost_names_the_best_training_job(ws: Workspace) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.7, size=160) > 0).astype(int)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y)
    ws.datasets.create("toy-train", frame.iloc[:120])
    ws.datasets.create("toy-val", frame.iloc[120:])
    ws.tuning.create(
        "xgb", strategy="Random", objective={"metric": "validation:logloss", "type": "Minimize"},
        parameter_ranges={"max_depth": {"type": "Integer", "min": 1, "max": 4},
                          "eta": {"type": "Continuous", "min": 0.05, "max": 0.5, "scaling": "Logarithmic"}},
        static_hyperparameters={"num_round": 8},
        training={"algorithm": "xgboost", "channels": {"train": "dataset/toy-train", "validation": "dataset/toy-val"}, "target": "label"},
        max_jobs=2, max_parallel_jobs=2, experiment="toy",
    )  # fmt: skip
    result = ws.tuning.wait("xgb", timeout=300)
    trials = result["trials"]
    assert [t["status"] for t in trials] == ["Completed", "Completed"]
    for t in trials:
        series = ws.training.metrics(t["training_job"], "validation:logloss")
        assert t["objective"] == max(series, key=lambda m: m.step).value
        assert 1 <= t["params"]["max_depth"] <= 4 and 0.05 <= t["params"]["eta"] <= 0.5
        assert ws.training.describe(t["training_job"])["HyperParameters"]["num_round"] == 8
    best = min(trials, key=lambda t: t["objective"])
    assert result["best_training_job"] == best["training_job"]
    model = load_model(ws.training.model_dir(best["training_job"]))
    assert len(model.predict(frame[["a", "b", "c"]].iloc[:5])) == 5
    runs = ws.experiments.search_runs("tags.tuning_job = xgb", experiments=["toy"], order_by="metrics.validation:logloss asc")
    assert runs[0].name == best["training_job"] and len(runs) == 2
