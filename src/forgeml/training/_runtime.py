"""What every training job does inside its worker: phases, channels, progress, rules, upload.

Both entrypoints (built-in algorithms and script mode) use one :class:`TrainingRun`, which keeps
the ``training-job`` resource (SageMaker's DescribeTrainingJob view: secondary status transitions,
final metrics, model artifact, rule statuses, reproducibility record) in step with the job.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.training import _channels
from forgeml.training._repro import record as repro_record
from forgeml.training._rules import RuleEngine

if TYPE_CHECKING:
    from forgeml.core.jobs import JobContext

KIND = "training-job"
FLUSH_SECONDS = 0.5


class StopRequested(Exception):
    """A debugger rule with the StopTraining action fired."""


class TrainingRun:
    """Job-side helper around a :class:`JobContext` for one training job."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.ws = ctx.workspace
        self.config: dict[str, Any] = ctx.config
        self.rules = RuleEngine(self.config.get("rules") or [])
        self.final: dict[str, float] = {}
        self._last_progress = 0.0
        self._pending: list[tuple[str, float, int, float]] = []
        self._last_flush = time.monotonic()
        self._transitions: list[dict[str, Any]] = list(self._data().get("secondary_status_transitions") or [])
        self.input_hashes: dict[str, str] = {}

    # resource ------------------------------------------------------------------------------
    def _data(self) -> dict[str, Any]:
        return self.ws.metadata.get_resource(KIND, self.ctx.name, 1).data

    def update(self, **data: Any) -> None:
        """Merge ``data`` into the training-job resource."""
        self.ws.metadata.update_resource(KIND, self.ctx.name, 1, data=data)

    def phase(self, status: str, message: str = "") -> None:
        """Enter a secondary status (Downloading, Training, Uploading, ...)."""
        self.flush()
        now = time.time()
        if self._transitions and self._transitions[-1].get("EndTime") is None:
            self._transitions[-1]["EndTime"] = now
        self._transitions.append({"Status": status, "StartTime": now, "EndTime": None, "StatusMessage": message})
        self.ctx.set_secondary_status(status)
        self.update(secondary_status_transitions=self._transitions)

    # inputs --------------------------------------------------------------------------------
    def download(self, root: Path) -> dict[str, Path]:
        """Download every channel into ``root/<channel>`` and record lineage and hashes."""
        self.phase("Downloading", "Downloading input data")
        out = {}
        for name, source in self.config["channels"].items():
            folder = _channels.download(self.ws, source, root / name)
            if source["type"] == "dataset":
                self.ctx.use_input(source["ref"])
                self.input_hashes[name] = source.get("digest") or ""
            else:
                path = Path(source["path"])
                art = self.ws.artifacts.put_file(path, owner=self.ctx.job.ref) if path.is_file() else (
                    self.ws.artifacts.put_dir(path, owner=self.ctx.job.ref)
                )  # fmt: skip
                self.ctx.use_input(art.ref)
                self.input_hashes[name] = art.digest
            out[name] = folder
        return out

    def reproducibility(self, command: list[str], code_digest: str | None) -> None:
        self.update(reproducibility=repro_record(
            seed=self.config.get("seed", 0), datasets=self.input_hashes, code=code_digest, command=command,
            hyperparameters=self.config.get("hyperparameters", {}),
        ))  # fmt: skip

    # progress ------------------------------------------------------------------------------
    def metric(self, key: str, value: float, step: int = 0) -> None:
        """Record one metric point (see :meth:`metrics`)."""
        self.metrics({key: value}, step)

    def metrics(self, points: dict[str, float], step: int = 0) -> None:
        """Record points of one step: the rules see them now; the store gets them in batches.

        Non-finite values reach the rules and the log, never the store. Points are written at
        most every ``FLUSH_SECONDS`` (one transaction), so a 1,000-round job costs a few writes
        per second instead of one per round.
        """
        now = time.time()
        for key, value in points.items():
            value = float(value)
            self.rules.add(key, value, step)
            if math.isfinite(value):
                self._pending.append((key, value, int(step), now))
                self.final[key] = value
            else:
                self.ctx.log(f"[forgeml] metric {key} is {value} at step {step}")
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the buffered metric points."""
        if self._pending:
            self.ws.metadata.log_metrics(self.ctx.job.ref, self._pending)
            self._pending = []
        self._last_flush = time.monotonic()

    def progress(self, iteration: int, total: int | None, force: bool = False) -> None:
        now = time.time()
        if force:
            self.flush()
        if force or now - self._last_progress > 0.5:
            self._last_progress = now
            self.update(progress={"iteration": iteration, "total": total})

    def check_rules(self) -> None:
        """Evaluate the rules; raise :class:`StopRequested` when a StopTraining rule fired."""
        if not self.rules.rules:
            return
        fired = self.rules.evaluate()
        if fired:
            for rule in fired:
                self.ctx.log(f"[forgeml] rule {rule['name']}: IssuesFound: {self.rules.statuses[rule['name']]['StatusDetails']}")
            self.update(debug_rule_evaluation_statuses=self.rules.summary())
            stop = self.rules.should_stop(fired)
            if stop is not None:
                raise StopRequested(stop["name"])

    def finish_rules(self) -> None:
        if self.rules.rules:
            self.update(debug_rule_evaluation_statuses=self.rules.finish())

    # outputs -------------------------------------------------------------------------------
    def upload(self, model_dir: Path, *, packaged: bool, extra: dict[str, Any] | None = None) -> str:
        """Store the model folder, link it to the job, and record it; return its digest."""
        self.phase("Uploading", "Uploading generated training model")
        art = self.ws.artifacts.put_dir(model_dir, owner=self.ctx.job.ref)
        self.ctx.add_output(art.ref)
        self.update(
            model_artifact=art.digest, model_packaged=packaged, final_metrics=dict(sorted(self.final.items())),
            **(extra or {}),
        )  # fmt: skip
        return art.digest

    def stop_self(self, rule: str) -> None:
        """Stop this job (StopTraining action): mark the reason, ask core to stop, wait for SIGTERM."""
        self.flush()
        self.update(stopped_by_rule=rule)
        self.ctx.log(f"[forgeml] rule {rule} requested StopTraining")
        self.ws.jobs.stop(self.ctx.name)
        time.sleep(max(5.0, self.ws.settings.job_stop_grace_seconds + 5))


__all__ = ["KIND", "StopRequested", "TrainingRun"]
