"""Built-in algorithm jobs: metrics per iteration, model packages, lineage, early stopping."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score

from forgeml.core.workspace import Workspace
from forgeml.errors import AlreadyExistsError
from forgeml.registry import load_model


def _series(ws: Workspace, job: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in ws.training.metrics(job, key)]


def test_xgboost_job_trains_packages_and_records_lineage(ws: Workspace, datasets: dict[str, str]) -> None:
    job = ws.training.create(
        "xgb-1", algorithm="xgboost", channels=datasets, target="y",
        hyperparameters={"num_round": "15", "max_depth": 3}, wait=True,
        rules=["Overfit", "LossNotDecreasing", "ClassImbalance"],
    )  # fmt: skip
    assert job.status == "Completed" and job.secondary_status == "Completed"
    steps = _series(ws, "xgb-1", "validation:logloss")
    assert [s for s, _ in steps] == list(range(15))
    assert {m.key for m in ws.training.metrics("xgb-1")} >= {"train:logloss", "validation:auc", "validation:accuracy"}

    model = load_model(ws.training.model_dir("xgb-1"))
    assert model.manifest.algorithm == "xgboost" and model.manifest.task == "binary"
    assert model.manifest.feature_names == ["a", "b", "c", "d", "amount"]
    valid = ws.datasets.read("va")
    out = model.predict(valid)
    # the last reported metric equals an independent computation on the packaged model
    assert abs(steps[-1][1] - log_loss(valid["y"], out["score"])) < 1e-5
    auc = _series(ws, "xgb-1", "validation:auc")[-1][1]
    assert abs(auc - roc_auc_score(valid["y"], out["score"])) < 1e-6

    digest = ws.training.model_artifact("xgb-1")
    down = ws.lineage.downstream("dataset/tr:1").to_dict()
    assert "job/xgb-1" in str(down) and digest in str(down)
    info = ws.training.describe("xgb-1")
    statuses = [t["Status"] for t in info["SecondaryStatusTransitions"]]
    assert statuses == ["Downloading", "Training", "Uploading"]
    assert info["Reproducibility"]["seed"] == 0
    assert info["Reproducibility"]["datasets"]["train"] == ws.datasets.get("tr").data["artifact"]
    assert info["HyperParameters"]["num_round"] == 15 and info["HyperParameters"]["eta"] == 0.3
    # rule statuses agree with the recorded series (the rules' definitions applied by hand)
    rules = {r["RuleConfigurationName"]: r["RuleEvaluationStatus"] for r in info["DebugRuleEvaluationStatuses"]}
    train = [v for _, v in _series(ws, "xgb-1", "train:logloss")]
    valid = [v for _, v in steps]
    # Overfit compares the mean losses from step 0 to each step (SageMaker's definition)
    overfit = any((sum(valid[: i + 1]) - sum(train[: i + 1])) / sum(train[: i + 1]) > 0.1 for i in range(len(train)))
    assert rules["Overfit"] == ("IssuesFound" if overfit else "NoIssuesFound")
    stalled = any(train[i] > train[i - 10] * 0.999 for i in range(10, len(train), 10))
    assert rules["LossNotDecreasing"] == ("IssuesFound" if stalled else "NoIssuesFound")
    assert rules["ClassImbalance"] == "NoIssuesFound"
    with pytest.raises(AlreadyExistsError, match="a job named 'xgb-1' already exists"):
        ws.training.create("xgb-1", algorithm="kmeans", channels=datasets)


def test_every_builtin_algorithm_trains(ws: Workspace, datasets: dict[str, str]) -> None:
    specs = {
        "linear-learner": ("amount", {"predictor_type": "regressor", "epochs": 5}),
        "random-forest": ("y", {"num_trees": 30}),
        "knn": ("y", {"k": 7}),
    }
    for algo, (target, hp) in specs.items():
        features = ["a", "b", "c", "d"]
        ws.training.create(f"all-{algo}", algorithm=algo, channels=datasets, target=target, hyperparameters=hp, features=features)
    valid = ws.datasets.read("va")
    for algo in specs:
        job = ws.training.wait(f"all-{algo}")
        assert job.status == "Completed", job.failure_reason
        model = load_model(ws.training.model_dir(f"all-{algo}"))
        out = model.predict(valid)
        assert len(out) == len(valid)
    # linear regression: reported rmse per epoch, the last equal to the packaged model's
    rmse = _series(ws, "all-linear-learner", "validation:rmse")
    assert [s for s, _ in rmse] == list(range(len(rmse))) and len(rmse) >= 2
    pred = load_model(ws.training.model_dir("all-linear-learner")).predict(valid)["prediction"]
    assert rmse[-1][1] >= np.sqrt(mean_squared_error(valid["amount"], pred)) - 1e-9
    assert np.sqrt(mean_squared_error(valid["amount"], pred)) < 1.0  # learnt the linear signal
    # random forest grows 10 trees per iteration
    assert [s for s, _ in _series(ws, "all-random-forest", "validation:accuracy")] == [0, 1, 2]


def test_recipe_is_fitted_on_train_and_travels_in_the_package(ws: Workspace) -> None:
    import pandas as pd

    from .conftest import make_frame

    frame = make_frame(300, seed=1)
    frame["city"] = np.where(frame["c"] > 0, "north", "south")
    frame.loc[::7, "a"] = np.nan
    ws.datasets.create("mixed-tr", frame.iloc[:200].reset_index(drop=True))
    ws.datasets.create("mixed-va", frame.iloc[200:].reset_index(drop=True))
    recipe = {"steps": [{"type": "impute", "strategy": "median", "columns": ["a"]}, {"type": "encode", "method": "onehot"}]}
    job = ws.training.create(
        "with-recipe", algorithm="lightgbm", channels={"train": "dataset/mixed-tr", "validation": "dataset/mixed-va"},
        target="y", features=["a", "b", "city"], recipe=recipe, hyperparameters={"num_boost_round": 10}, wait=True,
    )  # fmt: skip
    assert job.status == "Completed"
    folder = ws.training.model_dir("with-recipe")
    model = load_model(folder)
    assert model.manifest.recipe_file == "recipe.json" and model.manifest.feature_names == ["a", "b", "city"]
    raw = ws.datasets.read("mixed-va")
    out = model.predict(raw[["a", "b", "city"]])
    # early stopping (patience 10 by default) keeps the best iteration: the package predicts with it
    best = ws.training.describe("with-recipe")["Details"]["best_iteration"]
    series = dict(_series(ws, "with-recipe", "validation:logloss"))
    assert series[best] == min(series.values())
    assert abs(series[best] - log_loss(raw["y"], out["score"])) < 1e-6
    assert isinstance(out, pd.DataFrame) and len(out) == 100
