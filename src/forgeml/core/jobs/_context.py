"""What a job's entrypoint receives: its config, folders, and ways to report progress."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.records import EdgeRecord, JobRecord

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace


class JobContext:
    """Handle given to ``entrypoint(ctx)`` inside the job's worker process.

    Attributes:
        job: the job's record as it was when the worker started.
        config: the job's configuration (``job.config``).
        workdir: a private folder for this job (``$FORGEML_HOME/jobs/<name>``).
        checkpoint_dir: a folder restored from the last checkpoint when the job was resumed.
        attempt: 1 for the first run, 2 after one restart, ...
    """

    def __init__(self, workspace: Workspace, job: JobRecord, workdir: Path) -> None:
        self.workspace = workspace
        self.job = job
        self.config: dict[str, Any] = job.config
        self.workdir = workdir
        self.checkpoint_dir = workdir / "checkpoints"
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        self.attempt = max(job.attempts, 1)

    @property
    def name(self) -> str:
        return self.job.name

    def log(self, message: str) -> None:
        """Write one line to the job's log."""
        print(message, file=sys.stdout, flush=True)

    def set_secondary_status(self, status: str) -> None:
        """Report a phase (Starting, Downloading, Training, Uploading, ...)."""
        self.workspace.metadata.update_job(self.name, secondary_status=status)
        self.log(f"[forgeml] {status}")

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        """Append one point to a metric series of this job."""
        self.workspace.metadata.log_metrics(self.job.ref, [(key, float(value), int(step), time.time())])

    def log_metrics(self, values: dict[str, float], step: int = 0) -> None:
        now = time.time()
        self.workspace.metadata.log_metrics(
            self.job.ref, [(k, float(v), int(step), now) for k, v in values.items()]
        )

    def use_input(self, ref: str) -> None:
        """Record that this job read ``ref`` (lineage edge ``ref -> job``)."""
        self.workspace.metadata.add_edges([EdgeRecord(ref, self.job.ref, "input", self.name)])
        self.workspace.metadata.update_job(self.name, add_refs={"inputs": [ref]})

    def add_output(self, ref: str) -> None:
        """Record that this job wrote ``ref`` (lineage edge ``job -> ref``)."""
        self.workspace.metadata.add_edges([EdgeRecord(self.job.ref, ref, "output", self.name)])
        self.workspace.metadata.update_job(self.name, add_refs={"outputs": [ref]})

    def save_checkpoint(self) -> str:
        """Sync ``checkpoint_dir`` to the artifact store; return the manifest digest."""
        record = self.workspace.artifacts.put_dir(self.checkpoint_dir, owner=self.job.ref)
        self.workspace.metadata.update_job(self.name, handle_update={"checkpoint": record.digest})
        return record.digest
