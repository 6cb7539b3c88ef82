"""Experiments: runs with parameters, metric series, artifacts and tags; search and compare.

    import forgeml as fm
    with fm.start_run(experiment="loans", run_name="baseline") as run:
        run.log_param("max_depth", 3)
        run.log_metric("validation:auc", 0.81, step=1)
    fm.workspace().experiments.search_runs("metrics.validation:auc > 0.8")
"""

from forgeml.experiments._filter import Clause, parse_filter
from forgeml.experiments._jobs import (
    DEFAULT_EXPERIMENT,
    experiment_of,
    record_training_job,
    sync_training_jobs,
)
from forgeml.experiments._records import RUN_KINDS, RUN_STATUSES, ExperimentRecord, RunRecord
from forgeml.experiments._run import Run, start_run
from forgeml.experiments._service import ExperimentService, to_frame

__all__ = [
    "DEFAULT_EXPERIMENT",
    "RUN_KINDS",
    "RUN_STATUSES",
    "Clause",
    "ExperimentRecord",
    "ExperimentService",
    "Run",
    "RunRecord",
    "experiment_of",
    "parse_filter",
    "record_training_job",
    "start_run",
    "sync_training_jobs",
    "to_frame",
]
