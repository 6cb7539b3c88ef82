"""The run handle of the SDK: ``with fm.start_run(experiment="x", run_name="y") as run: ...``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ConflictError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace
    from forgeml.experiments._records import RunRecord
    from forgeml.experiments._service import ExperimentService


class Run:
    """A thin handle over one run; log methods work only inside its ``with`` block.

    As in SageMaker's ``sagemaker.experiments.Run``, logging outside the context raises
    ``RuntimeError`` (here :class:`~forgeml.errors.ConflictError`, which subclasses it). Leaving
    the block ends the run: Completed, Failed on an exception, Stopped on Ctrl-C.
    """

    def __init__(self, service: ExperimentService, record: RunRecord) -> None:
        self._service = service
        self._id = record.id
        self.experiment = record.experiment
        self.name = record.name
        self._active = False

    @property
    def key(self) -> str:
        """``EXPERIMENT/RUN``, the address the CLI and REST API take."""
        return f"{self.experiment}/{self.name}"

    @property
    def ref(self) -> str:
        return f"run/{self.experiment}/{self.name}"

    @property
    def record(self) -> RunRecord:
        """The run as stored now (params, latest metrics, tags, artifacts, status)."""
        return self._service.get_run(self._id)

    def __enter__(self) -> Run:
        self._active = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._active = False
        if exc_type is None:
            status = "Completed"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "Stopped"
        else:
            status = "Failed"
        self._service.end_run(self._id, status)

    def _check(self) -> None:
        if not self._active:
            raise ConflictError(f"run {self.key!r}: log methods work only inside `with start_run(...) as run:`")

    def log_param(self, key: str, value: Any) -> None:
        self._check()
        self._service.log_params(self._id, {key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        self._check()
        self._service.log_params(self._id, params)

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        """Append one point to the metric series ``key``."""
        self._check()
        self._service.log_metrics(self._id, {key: value}, step=step)

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        self._check()
        self._service.log_metrics(self._id, metrics, step=step)

    def set_tag(self, key: str, value: Any) -> None:
        self._check()
        self._service.set_tags(self._id, {key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._check()
        self._service.set_tags(self._id, tags)

    def log_artifact(
        self, path: str | Path, name: str | None = None, *, media_type: str | None = None, is_output: bool = True
    ) -> dict[str, Any]:
        """Store a file or folder in the artifact store and attach it to the run."""
        self._check()
        return self._service.log_artifact(self._id, path, name, media_type=media_type, is_output=is_output)

    def __repr__(self) -> str:
        return f"Run({self.key!r})"


def start_run(
    experiment: str,
    run_name: str | None = None,
    *,
    tags: dict[str, Any] | None = None,
    workspace: Workspace | None = None,
) -> Run:
    """Start (or resume) a run in ``experiment``, creating the experiment when needed.

    Use it as a context manager: ``with fm.start_run("loans", "baseline") as run: ...``.
    The run lives in ``workspace``, or in the process-wide default workspace.
    """
    if workspace is None:
        import forgeml

        workspace = forgeml.workspace()
    service: ExperimentService = workspace.experiments
    return service.start_run(experiment, run_name, tags=tags)


__all__ = ["Run", "start_run"]
