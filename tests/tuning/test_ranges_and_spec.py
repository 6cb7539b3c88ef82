"""Ranges, scaling and spec validation (no processes)."""

from __future__ import annotations

import math

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, ValidationError
from forgeml.tuning import TuningSpec, parse_range, parse_ranges

BOWL = {"entrypoint": "forgeml.tuning.synthetic:bowl", "metrics": ["validation:loss"]}


def spec(**over):
    base = {
        "objective": {"metric": "validation:loss", "type": "Minimize"},
        "parameter_ranges": {"x": {"type": "Continuous", "min": -1, "max": 1}},
        "training": BOWL,
    }
    return {**base, **over}


@pytest.mark.parametrize(
    ("rng", "message"),
    [
        ({"type": "Integer", "min": 5, "max": 2}, "min 5 is greater than max 2"),
        ({"type": "Continuous", "min": 0, "max": 1, "scaling": "Logarithmic"}, "needs min > 0"),
        ({"type": "Integer", "min": -3, "max": 4, "scaling": "Logarithmic"}, "needs min > 0"),
        ({"type": "Continuous", "min": 0.5, "max": 1.0, "scaling": "ReverseLogarithmic"}, "max < 1"),
        ({"type": "Continuous", "min": -0.1, "max": 0.5, "scaling": "ReverseLogarithmic"}, "0 <= min"),
        ({"type": "Integer", "min": 0, "max": 5, "scaling": "ReverseLogarithmic"}, "Continuous ranges only"),
        ({"type": "Integer", "min": 0.5, "max": 5}, "must be an integer"),
        ({"type": "Float", "min": 0, "max": 1}, "unknown type"),
        ({"type": "Continuous", "min": 0, "max": 1, "scaling": "Cubic"}, "unknown scaling"),
        ({"type": "Continuous", "min": 0}, "needs max"),
        ({"type": "Categorical", "values": []}, "non-empty list"),
        ({"type": "Categorical", "values": ["a", "a"]}, "repeat"),
        ({"type": "Categorical", "values": ["a"], "scaling": "Linear"}, "no scaling"),
        ({"type": "Continuous", "min": "low", "max": 1}, "must be a number"),
    ],
)
def test_bad_ranges_are_rejected(rng: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_range("p", rng)


def test_sagemaker_parameter_ranges_format() -> None:
    ranges = parse_ranges({
        "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "8", "ScalingType": "Linear"}],
        "ContinuousParameterRanges": [{"Name": "eta", "MinValue": 0.01, "MaxValue": 0.3, "ScalingType": "Logarithmic"}],
        "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
    })
    assert ranges["max_depth"].distribution() == optuna.distributions.IntDistribution(2, 8)
    assert ranges["eta"].distribution() == optuna.distributions.FloatDistribution(0.01, 0.3, log=True)
    assert ranges["booster"].distribution() == optuna.distributions.CategoricalDistribution(["gbtree", "dart"])


def test_reverse_logarithmic_samples_are_uniform_in_log_of_one_minus_x() -> None:
    rng = parse_range("momentum", {"type": "Continuous", "min": 0.0, "max": 0.999, "scaling": "ReverseLogarithmic"})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    dist = {"momentum": rng.distribution()}
    values = [rng.to_value(study.ask(dist).params["momentum"]) for _ in range(400)]
    assert all(0.0 <= v <= 0.999 for v in values)
    logs = [math.log(1 - v) for v in values]
    lo, hi = math.log(1 - 0.999), math.log(1.0)
    # Kolmogorov-Smirnov against the uniform law on [log(1 - max), log(1 - min)]
    assert stats.kstest(logs, "uniform", args=(lo, hi - lo)).pvalue > 0.01
    # and most of the mass sits near 1, unlike a linear range
    assert sum(v > 0.9 for v in values) > 0.6 * len(values)


@given(st.floats(0.0, 0.98, allow_nan=False))
def test_reverse_log_internal_value_round_trips(x: float) -> None:
    rng = parse_range("m", {"type": "Continuous", "min": 0.0, "max": 0.99, "scaling": "ReverseLogarithmic"})
    assert rng.to_value(rng.to_internal(x)) == pytest.approx(x, abs=1e-12)
    assert rng.distribution()._contains(rng.to_internal(x))


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"strategy": "Genetic"}, "unknown strategy 'Genetic'"),
        ({"objective": {"metric": "validation:loss", "type": "Maximise"}}, "unknown objective type"),
        ({"objective": {}}, "objective must give a metric"),
        ({"strategy": "Grid"}, "Categorical ranges only"),
        ({"strategy": "Hyperband", "early_stopping": "Auto"}, "early_stopping must be Off"),
        ({"hyperband": {"min_resource": 3}}, "need strategy Hyperband"),
        ({"strategy": "Hyperband", "hyperband": {"min_resource": 9, "max_resource": 3}}, "less than min_resource"),
        ({"max_jobs": 0}, "max_jobs must be an integer >= 1"),
        ({"max_parallel_jobs": 1.5}, "max_parallel_jobs"),
        ({"completion_criteria": {"max_jobs_not_improving": 2}}, ">= 3"),
        ({"completion_criteria": {"target": 1}}, "unknown completion_criteria"),
        ({"warm_start": {"parents": [f"p{i}" for i in range(6)]}}, "at most 5 parent"),
        ({"warm_start": {"parents": ["p"], "type": "Transfer"}}, "unknown warm start type"),
        ({"static_hyperparameters": {"x": 1}}, "both static and tuned"),
        ({"training": {}}, "training must describe"),
        ({"max_jobz": 3}, "unknown tuning spec field"),
    ],
)
def test_bad_specs_are_rejected(over: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TuningSpec.from_dict(spec(**over))


def test_spec_round_trips_and_grid_counts_combinations() -> None:
    parsed = TuningSpec.from_dict(spec(
        strategy="grid",
        parameter_ranges={"a": {"type": "Categorical", "values": [1, 2, 3]}, "b": {"type": "Categorical", "values": ["u", "v"]}},
    ))
    assert parsed.strategy == "Grid" and parsed.max_jobs == 6 == parsed.grid_size()
    assert TuningSpec.from_dict(parsed.to_dict()) == parsed


def test_service_rejects_objective_the_training_job_does_not_report(ws: Workspace) -> None:
    with pytest.raises(ValidationError, match="objective metric 'validation:auc' is not one"):
        ws.tuning.create("t1", **spec(objective={"metric": "validation:auc", "type": "Maximize"}))
    xgb = {"algorithm": "xgboost", "channels": {"train": "dataset/loans"}, "target": "approve"}
    ranges = {"max_depth": {"type": "Integer", "min": 2, "max": 4}}
    with pytest.raises(ValidationError, match="not one the training job reports"):
        ws.tuning.create("t2", objective="validation:auc", parameter_ranges=ranges, training=xgb)
    with pytest.raises(ValidationError, match="parameter range 'eta'"):
        ws.tuning.create("t3", objective="train:auc", training=xgb, parameter_ranges={"eta": {"type": "Continuous", "min": 0.1, "max": 3}})
    with pytest.raises(ValidationError, match="unknown key"):
        ws.tuning.create("t4", objective="train:auc", parameter_ranges=ranges, training={**xgb, "dataset": "x"})
    with pytest.raises(ValidationError, match="none: give metric_definitions"):
        ws.tuning.create("t6", objective="loss", parameter_ranges=ranges, training={"script": "train.py", "channels": {}})
    script = {"script": "train.py", "channels": {}, "metric_definitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]}
    with pytest.raises(ValidationError, match=r"not one the training job reports \(loss\)"):
        ws.tuning.create("t7", objective="auc", parameter_ranges=ranges, training=script)
    with pytest.raises(ValidationError, match="longer than 32"):
        ws.tuning.create("t" * 33, **spec())
    with pytest.raises(NotFoundError, match="parent tuning job 'ghost'"):
        ws.tuning.create("t5", **spec(warm_start={"parents": ["ghost"]}))
    assert ws.jobs.list(kind="tuning") == []  # nothing half-written
    assert ws.metadata.list_resources("tuning-job") == []
