"""Job service: submit, inspect, stop, wait for and reconcile jobs of every kind."""

from __future__ import annotations

import builtins
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import _states as st
from forgeml.core.jobs._backend import ExecutionBackend
from forgeml.core.records import JobRecord, MetricRecord
from forgeml.core.refs import name_of
from forgeml.errors import ConflictError, JobFailedError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


def validate_name(name: str, what: str = "name") -> str:
    """SageMaker's resource-name rule: letters, digits and hyphens, 1-63 characters.

    Raises:
        ValidationError: naming the bad value.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"invalid {what} {name!r}: use 1-63 letters, digits or hyphens, starting with a letter or digit"
        )
    return name


def new_name(prefix: str) -> str:
    """A unique job name such as ``training-20261129-170512-3fa2``."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


def make_backend(name: str) -> ExecutionBackend:
    if name == "local":
        from forgeml.core.jobs._local import LocalBackend

        return LocalBackend()
    if name == "ray":
        raise ValidationError("the ray execution backend is not available yet; use FORGEML_EXECUTION_BACKEND=local")
    raise ValidationError(f"unknown execution backend {name!r}")


class JobService:
    """Every long-running kind of work goes through here."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.metadata
        self.backend = make_backend(workspace.settings.execution_backend)

    def workdir(self, name: str) -> Path:
        path = self.ws.home / "jobs" / name_of(name, "job")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def submit(
        self,
        kind: str,
        entrypoint: str,
        config: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        max_runtime_seconds: float | None = None,
        resumable: bool = False,
        inputs: Sequence[str] = (),
    ) -> JobRecord:
        """Create a job and start it on the execution backend.

        Args:
            kind: one of ``JOB_KINDS``.
            entrypoint: ``"package.module:function"`` called with a ``JobContext``.
            config: JSON-serializable configuration stored with the job.
            name: unique job name; generated from ``kind`` when omitted.
            max_runtime_seconds: stop the job (``MaxRuntimeExceeded``) after this long.
            resumable: restart the job from its last checkpoint if its process disappears.
            inputs: lineage references the job reads.

        Raises:
            ValidationError: unknown kind, bad name or unserializable config.
            AlreadyExistsError: a job of that name exists.
        """
        if kind not in st.JOB_KINDS:
            raise ValidationError(f"unknown job kind {kind!r} (expected one of {', '.join(st.JOB_KINDS)})")
        if ":" not in entrypoint:
            raise ValidationError(f"entrypoint {entrypoint!r} must look like 'package.module:function'")
        if max_runtime_seconds is not None and max_runtime_seconds <= 0:
            raise ValidationError("max_runtime_seconds must be positive")
        name = validate_name(name or new_name(kind), "job name")
        config = dict(config or {})
        try:
            import json

            json.dumps(config)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"job config is not JSON-serializable: {exc}") from None
        record = self.store.create_job(
            JobRecord(
                name=name, kind=kind, status=st.PENDING, config=config, entrypoint=entrypoint,
                backend=self.backend.name, inputs=list(inputs), max_runtime_seconds=max_runtime_seconds,
                resumable=resumable,
            )
        )
        if inputs:
            from forgeml.core.records import EdgeRecord

            self.store.add_edges(EdgeRecord(ref, record.ref, "input", name) for ref in inputs)
        return self._launch(record)

    def fork_launches(self) -> None:
        """Start the jobs this process submits by forking it (local backend), not as new interpreters.

        For ForgeML job processes that launch many jobs (a tuning worker): a fork skips the
        interpreter start and imports. Only for a process with no threads of its own running
        (forking copies just the calling thread).
        """
        from forgeml.core.jobs._local import LocalBackend

        if isinstance(self.backend, LocalBackend):
            self.backend.fork = True

    def start_in_process(self, kind: str, entrypoint: str, config: dict[str, Any], *, name: str) -> JobRecord:
        """Record a job that runs in the calling process (an in-process tuning job), InProgress now.

        Its handle is this process, so ``reconcile`` fails the job if the process dies before
        :meth:`finish_in_process`, and ``stop`` from elsewhere moves it to Stopping for the
        running code to notice (it polls :meth:`get`).

        Raises:
            AlreadyExistsError: a job of that name exists.
        """
        import os

        from forgeml.core.jobs._local import process_start_time

        pid = os.getpid()
        now = time.time()
        return self.store.create_job(
            JobRecord(
                name=name, kind=kind, status=st.IN_PROGRESS, secondary_status="InProcess", config=config,
                entrypoint=entrypoint, backend="in-process", started_at=now, attempts=1,
                handle={"supervisor_pid": pid, "supervisor_start": process_start_time(pid)},
            )
        )  # fmt: skip

    def finish_in_process(self, name: str, status: str, *, failure_reason: str | None = None) -> JobRecord:
        """Settle a job started with :meth:`start_in_process` as Completed, Failed or Stopped."""
        return self.store.update_job(
            name, expected_status=(st.IN_PROGRESS, st.STOPPING), status=status, secondary_status=status,
            ended_at=time.time(), failure_reason=failure_reason,
        )  # fmt: skip

    def _launch(self, record: JobRecord) -> JobRecord:
        self.workdir(record.name)
        handle = self.backend.launch(record.name, self.ws.settings.to_env())
        return self.store.update_job(record.name, handle_update=handle)

    def get(self, name: str) -> JobRecord:
        """The job ``name`` or ``job/NAME`` refers to.

        Raises:
            ValidationError: a malformed reference. NotFoundError: no such job.
        """
        return self.store.get_job(name_of(name, "job"))

    def list(
        self,
        *,
        kind: str | None = None,
        status: Sequence[str] | None = None,
        name_contains: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[JobRecord]:
        for s in status or ():
            if s not in st.STATUSES:
                raise ValidationError(f"unknown job status {s!r} (expected one of {', '.join(st.STATUSES)})")
        return self.store.list_jobs(kind=kind, status=status, name_contains=name_contains, limit=limit, offset=offset)

    def launch_if_orphaned(self, name: str) -> JobRecord:
        """Launch a Pending job that has no live process: its submitter died between storing it
        and starting its supervisor. Call only where that submitter is known to be gone (a
        resumed job that submitted it). Other jobs are returned as they are.
        """
        job = self.get(name)
        if job.status == st.PENDING and not self.backend.is_alive(job.handle):
            self.store.append_event(job.ref, "Relaunched", {"reason": "its submitter exited before starting it"})
            return self._launch(job)
        return job

    def refresh(self, name: str) -> JobRecord:
        """The job, settled first if its processes are gone (what :meth:`reconcile` does for one job)."""
        return self._reconcile_one(self.get(name))

    def transition(self, name: str, target: str, **fields: Any) -> JobRecord:
        """Move a job to ``target``, enforcing the state machine atomically.

        Raises:
            InvalidTransitionError: when the move is not allowed from the current status.
        """
        current = self.store.get_job(name)
        st.check_transition(name, current.status, target)
        try:
            return self.store.update_job(name, expected_status=(current.status,), status=target, **fields)
        except ConflictError:
            latest = self.store.get_job(name)
            st.check_transition(name, latest.status, target)
            raise

    def stop(self, name: str, *, wait: bool = False, timeout: float | None = None) -> JobRecord:
        """Ask a job to stop: its supervisor sends SIGTERM, then SIGKILL after the grace period.

        Raises:
            InvalidTransitionError: when the job has already ended.
        """
        job = self.get(name)
        name = job.name
        if job.status == st.STOPPING:
            return job
        job = self.transition(name, st.STOPPING, secondary_status="Stopping")
        if not self.backend.is_alive(job.handle):
            # nobody is left to act on the request: finish it here
            self.backend.kill(job.handle)
            job = self.store.update_job(name, status=st.STOPPED, secondary_status="Stopped", ended_at=time.time())
        if wait:
            return self.wait(name, timeout=timeout, raise_on_failure=False)
        return job

    def wait(self, name: str, *, timeout: float | None = None, raise_on_failure: bool = True, poll: float = 0.1) -> JobRecord:
        """Block until the job ends.

        Raises:
            TimeoutError: when ``timeout`` passes first.
            JobFailedError: when the job ends Failed or Stopped and ``raise_on_failure``.
        """
        name = self.get(name).name
        deadline = None if timeout is None else time.monotonic() + timeout
        next_check = time.monotonic() + 2.0
        while True:
            job = self.store.get_job(name)
            if job.is_terminal:
                break
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 2.0
                job = self._reconcile_one(job)
                if job.is_terminal:
                    break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {name!r} still {job.status} after {timeout:g}s")
            time.sleep(poll)
        if raise_on_failure and job.status != st.COMPLETED:
            reason = job.failure_reason or job.secondary_status or job.status
            raise JobFailedError(f"job {name!r} {job.status.lower()}: {reason}")
        return job

    def log_path(self, name: str) -> Path:
        return self.workdir(self.get(name).name) / "logs.txt"

    def logs(self, name: str, *, follow: bool = False, poll: float = 0.2) -> Iterator[str]:
        """Lines of the job's log; with ``follow``, keep yielding until the job ends."""
        name = self.get(name).name
        path = self.log_path(name)
        position = 0
        while True:
            if path.exists():
                with open(path, errors="replace") as fh:
                    fh.seek(position)
                    while True:
                        line = fh.readline()
                        if not line or not line.endswith("\n"):
                            break
                        position = fh.tell()
                        yield line.rstrip("\n")
            if not follow:
                return
            job = self.store.get_job(name)
            if job.is_terminal:
                if path.exists() and path.stat().st_size > position:
                    continue
                return
            time.sleep(poll)

    def metrics(self, name: str, key: str | None = None) -> builtins.list[MetricRecord]:
        job = self.get(name)
        return self.store.get_metrics(job.ref, key)

    # recovery --------------------------------------------------------------------------------
    def _reconcile_one(self, job: JobRecord) -> JobRecord:
        if job.is_terminal:
            return job
        if job.status == st.PENDING and not job.handle:
            if time.time() - job.created_at < 30:
                return job  # being launched right now
            return self.store.update_job(
                job.name, status=st.FAILED, secondary_status="Failed", ended_at=time.time(),
                failure_reason="job was never started: the process that submitted it exited first",
            )  # fmt: skip
        if self.backend.is_alive(job.handle):
            return job
        latest = self.store.get_job(job.name)
        if latest.is_terminal or (latest.updated_at != job.updated_at and self.backend.is_alive(latest.handle)):
            return latest
        self.backend.kill(latest.handle)
        if latest.status == st.STOPPING:
            return self.store.update_job(job.name, status=st.STOPPED, secondary_status="Stopped", ended_at=time.time())
        if latest.resumable and latest.status == st.IN_PROGRESS and latest.attempts < 3:
            self.store.append_event(latest.ref, "Interrupted", {"attempt": latest.attempts})
            return self._launch(latest)
        pid = latest.handle.get("supervisor_pid")
        return self.store.update_job(
            job.name, status=st.FAILED, secondary_status="Failed", ended_at=time.time(),
            failure_reason=f"job process {pid} disappeared while {latest.status} (machine restart or kill)",
        )  # fmt: skip

    def reconcile(self) -> builtins.list[JobRecord]:
        """Settle jobs whose processes are gone: resume resumable ones, fail the rest."""
        changed = []
        for job in self.store.list_jobs(status=st.ACTIVE):
            after = self._reconcile_one(job)
            if after.updated_at != job.updated_at:
                changed.append(after)
        return changed
