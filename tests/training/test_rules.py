"""Debugger rules: hand-computed series, and rules attached to real jobs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.training import RuleEngine
from forgeml.training._rules import normalize_rules

SCRIPTS = Path(__file__).parent / "scripts"


def _status(rule: str | dict, **series: list[float]) -> tuple[str, str | None]:
    engine = RuleEngine(normalize_rules([rule]))
    for key, values in series.items():
        for step, value in enumerate(values):
            engine.add(key.replace("__", ":"), value, step)
    out = engine.finish()[0]
    return out["RuleEvaluationStatus"], out["StatusDetails"]


@pytest.mark.parametrize(
    ("rule", "series", "expected"),
    [
        # loss 1.0 -> 0.5 over 10 steps decreases; flat afterwards does not
        ("LossNotDecreasing", {"train__logloss": [1.0 - 0.05 * i for i in range(11)]}, "NoIssuesFound"),
        ("LossNotDecreasing", {"train__logloss": [1.0 - 0.05 * i for i in range(11)] + [0.5] * 10}, "IssuesFound"),
        # decrease of 0.05% per 10 steps is below diff_percent=0.1
        ("LossNotDecreasing", {"train__rmse": [1.0] * 10 + [0.9995]}, "IssuesFound"),
        # (0.54 - 0.5) / 0.5 = 0.08 is not > 0.1; (0.56 - 0.5) / 0.5 = 0.12 is
        ("Overfit", {"train__logloss": [0.5], "validation__logloss": [0.54]}, "NoIssuesFound"),
        ("Overfit", {"train__logloss": [0.5], "validation__logloss": [0.56]}, "IssuesFound"),
        ({"rule": "Overfit", "parameters": {"patience": 2}}, {"train__logloss": [0.5, 0.5], "validation__logloss": [0.6, 0.45]}, "NoIssuesFound"),
        # SageMaker compares the *means* from start_step on: the last step's gap (0.46 - 0.4) / 0.4 = 0.15
        # is over 0.1, but the means' is (1.58 - 1.5) / 1.5 = 0.053: a boosted model's last rounds do not decide it
        ("Overfit", {"train__logloss": [0.6, 0.5, 0.4], "validation__logloss": [0.6, 0.52, 0.46]}, "NoIssuesFound"),
        ("Overfit", {"train__logloss": [0.5, 0.4, 0.3], "validation__logloss": [0.53, 0.5, 0.45]}, "IssuesFound"),  # 1.48 / 1.2 - 1 = 0.23
        ({"rule": "Overfit", "parameters": {"start_step": 1}}, {"train__logloss": [0.5, 0.5, 0.5], "validation__logloss": [0.9, 0.5, 0.52]}, "NoIssuesFound"),
        ("Overfit", {"train__logloss": [0.5, 0.5, 0.5], "validation__logloss": [0.9, 0.5, 0.52]}, "IssuesFound"),
        # validation loss stalls for 10 steps (improvements < delta 0.01)
        ("Overtraining", {"train__logloss": [1 - 0.05 * i for i in range(12)], "validation__logloss": [0.5] + [0.495] * 11}, "IssuesFound"),
        ("Overtraining", {"train__logloss": [1 - 0.05 * i for i in range(12)], "validation__logloss": [1 - 0.02 * i for i in range(12)]}, "NoIssuesFound"),
        ("VanishingGradient", {"gradients/fc1": [0.1, 1e-8]}, "IssuesFound"),
        ("VanishingGradient", {"gradients/fc1": [0.1, 1e-6], "train__loss": [0.0]}, "NoIssuesFound"),
        ("ExplodingTensor", {"gradients/fc2": [0.1, math.inf]}, "IssuesFound"),
        ({"rule": "ExplodingTensor", "parameters": {"only_nan": True}}, {"gradients/fc2": [math.inf]}, "NoIssuesFound"),
        ("ExplodingTensor", {"gradients/fc2": [0.1, math.nan]}, "IssuesFound"),
    ],
)
def test_rule_on_hand_computed_series(rule: str | dict, series: dict[str, list[float]], expected: str) -> None:
    assert _status(rule, **series)[0] == expected


def test_overfit_details_name_the_means_and_the_window() -> None:
    status, details = _status("Overfit", train__logloss=[0.5, 0.4, 0.3], validation__logloss=[0.53, 0.5, 0.45])
    assert status == "IssuesFound"
    # step 0: 0.03 / 0.5 = 6 %; step 1: (1.03 - 0.9) / 0.9 = 14.4 % > 10 %
    assert details == "mean validation:logloss exceeds mean train:logloss by 14.4% over steps 0-1 (ratio_threshold 0.1, patience 1)"


def test_class_imbalance_counts_and_mispredictions() -> None:
    engine = RuleEngine(normalize_rules(["ClassImbalance"]))
    engine.facts["class_counts"] = {"0": 100, "1": 10}  # ratio 10 is not > 10
    assert engine.finish()[0]["RuleEvaluationStatus"] == "NoIssuesFound"
    engine = RuleEngine(normalize_rules(["ClassImbalance"]))
    engine.facts.update(class_counts={"0": 101, "1": 10})
    assert engine.finish()[0]["RuleEvaluationStatus"] == "IssuesFound"
    engine = RuleEngine(normalize_rules(["ClassImbalance"]))
    engine.facts.update(class_counts={"0": 50, "1": 50}, misprediction={"0": 0.1, "1": 0.75})
    assert "class 1 is mispredicted" in engine.finish()[0]["StatusDetails"]


def test_bad_rules_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown debugger rule 'Nope'"):
        normalize_rules(["Nope"])
    with pytest.raises(ValidationError, match=r"'ratio_threshold' of rule Overfit must be a float in \[0, inf\)"):
        normalize_rules([{"rule": "Overfit", "parameters": {"ratio_threshold": -1}}])
    with pytest.raises(ValidationError, match="unknown action"):
        normalize_rules([{"rule": "Overfit", "actions": ["Email"]}])


def test_exploding_tensor_stops_a_script_job(ws: Workspace, datasets: dict[str, str]) -> None:
    job = ws.training.create(
        "exploding", script=str(SCRIPTS / "tensors.py"), channels={"train": datasets["train"]},
        hyperparameters={"steps": 40, "explode": 1, "sleep": 0.1},
        metric_definitions=[{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"},
                            {"Name": "gradients/fc2", "Regex": r"grad_fc2=(\S+)"}],
        rules=[{"rule": "ExplodingTensor", "actions": ["StopTraining"]}, "LossNotDecreasing"],
    )  # fmt: skip
    job = ws.training.wait(job.name, raise_on_failure=False, timeout=60)
    assert job.status == "Stopped"
    info = ws.training.describe(job.name)
    statuses = {r["RuleConfigurationName"]: r["RuleEvaluationStatus"] for r in info["DebugRuleEvaluationStatuses"]}
    assert statuses["ExplodingTensor"] == "IssuesFound"
    assert ws.training.record(job.name).data["stopped_by_rule"] == "ExplodingTensor"
    assert "step=39" not in "\n".join(ws.training.logs(job.name))


def test_stop_training_on_a_builtin_keeps_the_model_so_far(ws: Workspace, datasets: dict[str, str]) -> None:
    job = ws.training.create(
        "stop-builtin", algorithm="xgboost", channels=datasets, target="y",
        hyperparameters={"num_round": 300, "max_depth": 6, "eta": 0.5},
        rules=[{"rule": "Overfit", "parameters": {"ratio_threshold": 0.05}, "actions": ["StopTraining"]}],
    )  # fmt: skip
    job = ws.training.wait(job.name, raise_on_failure=False, timeout=60)
    assert job.status == "Stopped"
    record = ws.training.record(job.name).data
    assert record["stopped_by_rule"] == "Overfit" and record["iterations"] < 300
    assert len(ws.training.metrics(job.name, "validation:logloss")) == record["iterations"]
    assert ws.training.model_artifact(job.name) == record["model_artifact"]
