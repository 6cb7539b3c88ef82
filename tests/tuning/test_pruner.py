"""SageMaker's median early-stopping rule, on hand-computed cases."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from forgeml.tuning import TuningSpec
from forgeml.tuning._strategies import (
    AskTellGridSampler,
    SageMakerMedianPruner,
    make_pruner,
    make_sampler,
)

COMPLETED = [
    {0: 0.5, 1: 0.7, 2: 0.9},  # running averages: 0.5, 0.6, 0.7
    {0: 0.6, 1: 0.6, 2: 0.6},  # 0.6, 0.6, 0.6
    {0: 0.2, 1: 0.4},  # 0.2, 0.3 (never reached step 2)
]


def _study(direction: str) -> optuna.Study:
    study = optuna.create_study(direction=direction, pruner=SageMakerMedianPruner())
    for iv in COMPLETED:
        study.add_trial(create_trial(value=iv[max(iv)], params={"x": 0.0}, distributions={"x": FloatDistribution(-1, 1)}, intermediate_values=iv))
    return study


def _current(iv: dict[int, float]) -> optuna.trial.FrozenTrial:
    return create_trial(state=TrialState.RUNNING, params={}, distributions={}, intermediate_values=iv)


@pytest.mark.parametrize(
    ("direction", "current", "stop"),
    [
        # step 1: median of (0.6, 0.6, 0.3) = 0.6
        ("maximize", {0: 0.9, 1: 0.58}, True),
        ("maximize", {0: 0.1, 1: 0.61}, False),  # the current value counts, not the best so far
        ("minimize", {0: 0.1, 1: 0.61}, True),
        ("minimize", {0: 0.9, 1: 0.6}, False),  # equal to the median is not worse
        # step 2: only two trials reached it, median of (0.7, 0.6) = 0.65
        ("maximize", {0: 0.9, 1: 0.9, 2: 0.64}, True),
        ("maximize", {0: 0.0, 1: 0.0, 2: 0.66}, False),
        # step 0: median of (0.5, 0.6, 0.2) = 0.5
        ("minimize", {0: 0.51}, True),
        # beyond every completed trial: nothing to compare with
        ("maximize", {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0}, False),
    ],
)
def test_median_of_running_averages(direction: str, current: dict[int, float], stop: bool) -> None:
    study = _study(direction)
    assert SageMakerMedianPruner().prune(study, _current(current)) is stop


def test_differs_from_optunas_median_pruner_which_uses_the_best_value_and_raw_values() -> None:
    study = _study("maximize")
    trial = _current({0: 0.9, 1: 0.58})
    ours = SageMakerMedianPruner().prune(study, trial)
    theirs = optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=0).prune(study, trial)
    assert ours is True and bool(theirs) is False  # Optuna looks at the best (0.9), SageMaker at 0.58


def test_no_completed_trials_never_stops() -> None:
    study = optuna.create_study(direction="maximize")
    assert SageMakerMedianPruner().prune(study, _current({0: -100.0})) is False


def _spec(**over):
    base = {
        "objective": "validation:loss",
        "parameter_ranges": {"a": {"type": "Categorical", "values": [1, 2]}},
        "training": {"entrypoint": "m:f"},
    }
    return TuningSpec.from_dict({**base, **over})


@pytest.mark.parametrize(
    ("over", "sampler", "pruner"),
    [
        ({}, optuna.samplers.TPESampler, optuna.pruners.NopPruner),
        ({"strategy": "Random", "early_stopping": "Auto"}, optuna.samplers.RandomSampler, SageMakerMedianPruner),
        ({"strategy": "Grid"}, AskTellGridSampler, optuna.pruners.NopPruner),
        ({"strategy": "Hyperband", "hyperband": {"min_resource": 2, "max_resource": 20}}, optuna.samplers.TPESampler, optuna.pruners.HyperbandPruner),
    ],
)
def test_strategy_maps_to_optuna(over: dict, sampler: type, pruner: type) -> None:
    parsed = _spec(**over)
    assert isinstance(make_sampler(parsed), sampler)
    made = make_pruner(parsed)
    assert isinstance(made, pruner)
    if pruner is optuna.pruners.HyperbandPruner:
        assert made._min_resource == 2 and made._max_resource == 20
