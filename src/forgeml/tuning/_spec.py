"""The tuning-job specification (SageMaker's HyperParameterTuningJobConfig), validated in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from forgeml.errors import ValidationError
from forgeml.tuning._ranges import ParameterRange, parse_ranges

STRATEGIES: Final = ("Bayesian", "Random", "Grid", "Hyperband")
DIRECTIONS: Final = ("Maximize", "Minimize")
EARLY_STOPPING: Final = ("Off", "Auto")
WARM_START_TYPES: Final = ("IdenticalDataAndAlgorithm", "TransferLearning")
MAX_PARENTS: Final = 5

_FIELDS = {
    "strategy", "objective", "parameter_ranges", "static_hyperparameters", "training", "max_jobs",
    "max_parallel_jobs", "max_runtime_seconds", "early_stopping", "completion_criteria", "hyperband",
    "warm_start", "random_seed", "experiment",
}  # fmt: skip


def _pick(value: Any, choices: tuple[str, ...], what: str) -> str:
    for choice in choices:
        if isinstance(value, str) and value.lower() == choice.lower():
            return choice
    raise ValidationError(f"unknown {what} {value!r} (expected one of {', '.join(choices)})")


def _positive_int(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True)
class TuningSpec:
    """A validated tuning job. Build with :meth:`from_dict`; ``to_dict`` round-trips."""

    objective_metric: str
    objective_type: str
    ranges: dict[str, ParameterRange]
    training: dict[str, Any]
    strategy: str = "Bayesian"
    static_hyperparameters: dict[str, Any] = field(default_factory=dict)
    max_jobs: int = 10
    max_parallel_jobs: int = 1
    max_runtime_seconds: float | None = None
    early_stopping: str = "Off"
    target_objective_value: float | None = None
    max_jobs_not_improving: int | None = None
    min_resource: int = 1
    max_resource: int | None = None
    reduction_factor: int = 3
    warm_start_parents: tuple[str, ...] = ()
    warm_start_type: str | None = None
    random_seed: int = 0
    experiment: str | None = None

    @property
    def maximize(self) -> bool:
        return self.objective_type == "Maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether objective ``a`` is strictly better than ``b``."""
        return a > b if self.maximize else a < b

    def grid_size(self) -> int:
        size = 1
        for r in self.ranges.values():
            size *= len(r.values)
        return size

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuningSpec:
        """Validate a spec given as a plain dict (JSON / YAML / keyword arguments).

        Raises:
            ValidationError: one line naming the field and the problem.
        """
        if not isinstance(data, dict):
            raise ValidationError("a tuning spec must be a mapping")
        unknown = set(data) - _FIELDS
        if unknown:
            raise ValidationError(f"unknown tuning spec field(s): {', '.join(sorted(unknown))} (expected {', '.join(sorted(_FIELDS))})")
        strategy = _pick(data.get("strategy") or "Bayesian", STRATEGIES, "strategy")
        objective = data.get("objective")
        if isinstance(objective, str):
            objective = {"metric": objective}
        if not isinstance(objective, dict) or not objective.get("metric"):
            raise ValidationError("objective must give a metric, e.g. {'metric': 'validation:auc', 'type': 'Maximize'}")
        metric = str(objective["metric"])
        direction = _pick(objective.get("type") or "Maximize", DIRECTIONS, "objective type")
        ranges = parse_ranges(data.get("parameter_ranges"))
        static = dict(data.get("static_hyperparameters") or {})
        both = sorted(set(static) & set(ranges))
        if both:
            raise ValidationError(f"hyperparameter(s) {', '.join(both)} are both static and tuned")
        training = data.get("training")
        if not isinstance(training, dict) or not training:
            raise ValidationError("training must describe the training job to tune (algorithm or script, channels, ...)")
        if "hyperparameters" in training:
            raise ValidationError("put fixed hyperparameters in static_hyperparameters, not training.hyperparameters")
        max_parallel = _positive_int(data.get("max_parallel_jobs", 1), "max_parallel_jobs")
        if strategy == "Grid":
            not_categorical = [n for n, r in ranges.items() if r.type != "Categorical"]
            if not_categorical:
                raise ValidationError(f"Grid strategy takes Categorical ranges only; {', '.join(not_categorical)} are not")
            grid = 1
            for r in ranges.values():
                grid *= len(r.values)
            max_jobs = _positive_int(data.get("max_jobs", grid), "max_jobs")
        else:
            max_jobs = _positive_int(data.get("max_jobs", 10), "max_jobs")
        runtime = data.get("max_runtime_seconds")
        if runtime is not None and (isinstance(runtime, bool) or not isinstance(runtime, int | float) or runtime <= 0):
            raise ValidationError(f"max_runtime_seconds must be a positive number, got {runtime!r}")
        early = _pick(data.get("early_stopping") or "Off", EARLY_STOPPING, "early_stopping type")
        if strategy == "Hyperband" and early != "Off":
            raise ValidationError("Hyperband stops trials early on its own: early_stopping must be Off")
        criteria = dict(data.get("completion_criteria") or {})
        bad = set(criteria) - {"target_objective_value", "max_jobs_not_improving"}
        if bad:
            raise ValidationError(f"unknown completion_criteria field(s): {', '.join(sorted(bad))}")
        target = criteria.get("target_objective_value")
        if target is not None and (isinstance(target, bool) or not isinstance(target, int | float)):
            raise ValidationError(f"completion_criteria.target_objective_value must be a number, got {target!r}")
        patience = criteria.get("max_jobs_not_improving")
        if patience is not None:
            patience = _positive_int(patience, "completion_criteria.max_jobs_not_improving", 3)
        hb = dict(data.get("hyperband") or {})
        if hb and strategy != "Hyperband":
            raise ValidationError("hyperband settings need strategy Hyperband")
        bad = set(hb) - {"min_resource", "max_resource", "reduction_factor"}
        if bad:
            raise ValidationError(f"unknown hyperband field(s): {', '.join(sorted(bad))}")
        min_resource = _positive_int(hb.get("min_resource", 1), "hyperband.min_resource")
        max_resource = hb.get("max_resource")
        if max_resource is not None:
            max_resource = _positive_int(max_resource, "hyperband.max_resource")
            if max_resource < min_resource:
                raise ValidationError(f"hyperband.max_resource {max_resource} is less than min_resource {min_resource}")
        reduction = _positive_int(hb.get("reduction_factor", 3), "hyperband.reduction_factor", 2)
        ws_spec = data.get("warm_start") or {}
        parents: tuple[str, ...] = ()
        ws_type = None
        if ws_spec:
            if not isinstance(ws_spec, dict):
                raise ValidationError("warm_start must be {'parents': [...], 'type': 'IdenticalDataAndAlgorithm' | 'TransferLearning'}")
            raw = ws_spec.get("parents") or []
            if isinstance(raw, str) or not isinstance(raw, list | tuple) or not raw:
                raise ValidationError("warm_start.parents must list 1 to 5 parent tuning jobs")
            if len(raw) > MAX_PARENTS:
                raise ValidationError(f"warm_start takes at most {MAX_PARENTS} parent tuning jobs, got {len(raw)}")
            from forgeml.core.refs import name_of

            parents = tuple(name_of(str(p), "job") for p in raw)  # NAME or job/NAME
            if len(set(parents)) != len(parents):
                raise ValidationError("warm_start.parents repeats a tuning job")
            ws_type = _pick(ws_spec.get("type") or "IdenticalDataAndAlgorithm", WARM_START_TYPES, "warm start type")
            if strategy == "Grid":
                raise ValidationError("warm start works with the Bayesian, Random and Hyperband strategies, not Grid")
        seed = data.get("random_seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValidationError(f"random_seed must be a non-negative integer, got {seed!r}")
        return cls(
            objective_metric=metric, objective_type=direction, ranges=ranges, training=dict(training),
            strategy=strategy, static_hyperparameters=static, max_jobs=max_jobs, max_parallel_jobs=max_parallel,
            max_runtime_seconds=float(runtime) if runtime is not None else None, early_stopping=early,
            target_objective_value=float(target) if target is not None else None, max_jobs_not_improving=patience,
            min_resource=min_resource, max_resource=max_resource, reduction_factor=reduction,
            warm_start_parents=parents, warm_start_type=ws_type, random_seed=seed,
            experiment=data.get("experiment"),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "objective": {"metric": self.objective_metric, "type": self.objective_type},
            "parameter_ranges": {n: r.to_dict() for n, r in self.ranges.items()},
            "static_hyperparameters": self.static_hyperparameters,
            "training": self.training,
            "max_jobs": self.max_jobs,
            "max_parallel_jobs": self.max_parallel_jobs,
            "max_runtime_seconds": self.max_runtime_seconds,
            "early_stopping": self.early_stopping,
            "completion_criteria": {
                "target_objective_value": self.target_objective_value,
                "max_jobs_not_improving": self.max_jobs_not_improving,
            },
            "random_seed": self.random_seed,
            "experiment": self.experiment,
        }
        if self.strategy == "Hyperband":
            out["hyperband"] = {"min_resource": self.min_resource, "max_resource": self.max_resource, "reduction_factor": self.reduction_factor}
        if self.warm_start_parents:
            out["warm_start"] = {"parents": list(self.warm_start_parents), "type": self.warm_start_type}
        return out


__all__ = ["DIRECTIONS", "EARLY_STOPPING", "MAX_PARENTS", "STRATEGIES", "WARM_START_TYPES", "TuningSpec"]
