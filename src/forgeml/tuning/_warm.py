"""Warm start: parent tuning jobs' trials enter the new study before it asks for anything.

``IdenticalDataAndAlgorithm``: the parents tuned the same training job (same data channels and
algorithm or script) with the same hyperparameter names; ranges may change, and static and
tunable hyperparameters may swap. ``TransferLearning``: data, algorithm and ranges may all change.
Either way each parent trial that completed is added to the study with ``study.add_trial``, with
the values that fall inside the new ranges; every parent training job counts against the new
job's ``max_jobs``, and the best job is the best across parents and the new job (SageMaker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError
from forgeml.tuning._book import RESOURCE_KIND

if TYPE_CHECKING:
    from optuna.study import Study

    from forgeml.core.workspace import Workspace
    from forgeml.tuning._spec import TuningSpec

_DATA_KEYS = ("algorithm", "script", "entrypoint", "objective", "channels", "target")


def check_parents(ws: Workspace, spec: TuningSpec) -> int:
    """Validate the warm-start parents; return how many training jobs they ran.

    Raises:
        NotFoundError: a parent does not exist.
        ValidationError: a parent is still running, optimizes another objective, or (for
            IdenticalDataAndAlgorithm) tuned other data, algorithm or hyperparameters; or the
            parents' jobs leave no room under ``max_jobs``.
    """
    total = 0
    for parent in spec.warm_start_parents:
        try:
            resource = ws.metadata.get_resource(RESOURCE_KIND, parent)
        except NotFoundError:
            raise NotFoundError(f"warm-start parent tuning job {parent!r} does not exist") from None
        job = ws.jobs.get(parent)
        if not job.is_terminal:
            raise ValidationError(f"warm-start parent {parent!r} is still {job.status}; wait for it to end")
        pspec = resource.spec
        pobj = pspec.get("objective", {})
        if pobj.get("metric") != spec.objective_metric or pobj.get("type") != spec.objective_type:
            raise ValidationError(
                f"warm-start parent {parent!r} optimizes {pobj.get('type')} {pobj.get('metric')}, not {spec.objective_type} {spec.objective_metric}"
            )
        if spec.warm_start_type == "IdenticalDataAndAlgorithm":
            ptrain = pspec.get("training", {})
            for key in _DATA_KEYS:
                if ptrain.get(key) != spec.training.get(key):
                    raise ValidationError(
                        f"warm-start parent {parent!r} used a different training {key} ({ptrain.get(key)!r}); IdenticalDataAndAlgorithm needs the same data and algorithm (use TransferLearning)"
                    )
            pnames = set(pspec.get("parameter_ranges", {})) | set(pspec.get("static_hyperparameters", {}))
            names = set(spec.ranges) | set(spec.static_hyperparameters)
            if pnames != names:
                raise ValidationError(
                    f"warm-start parent {parent!r} set hyperparameters {sorted(pnames)}, this job {sorted(names)}; IdenticalDataAndAlgorithm needs the same ones (use TransferLearning)"
                )
        total += sum(1 for t in resource.data.get("trials", []) if t.get("source") == "new")
    if total >= spec.max_jobs:
        raise ValidationError(
            f"the warm-start parents ran {total} training job(s), which count against max_jobs {spec.max_jobs}: raise max_jobs above {total}"
        )
    return total


def load_parents(ws: Workspace, spec: TuningSpec, study: Study) -> list[dict[str, Any]]:
    """Add the parents' trials to ``study``; return their records (source ``parent:NAME``)."""
    import optuna

    records: list[dict[str, Any]] = []
    for parent in spec.warm_start_parents:
        resource = ws.metadata.get_resource(RESOURCE_KIND, parent)
        static = resource.spec.get("static_hyperparameters", {})
        for trial in resource.data.get("trials", []):
            if trial.get("source") != "new":
                continue  # a parent's own parents are not inherited
            records.append({**trial, "source": f"parent:{parent}"})
            if trial.get("status") != "Completed" or trial.get("objective") is None:
                continue
            params, distributions = {}, {}
            for name, rng in spec.ranges.items():
                value = trial["params"].get(name, static.get(name))
                if value is not None and rng.contains(value):
                    params[name] = rng.to_internal(value)
                    distributions[name] = rng.distribution()
            if not params:
                continue
            study.add_trial(
                optuna.trial.create_trial(
                    params=params, distributions=distributions, value=float(trial["objective"]),
                    user_attrs={"training_job": trial["training_job"], "parent": parent},
                )
            )
    return records


__all__ = ["check_parents", "load_parents"]
