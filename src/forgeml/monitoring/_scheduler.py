"""The scheduler: runs each schedule's due windows exactly once, across crashes and restarts.

Every (schedule, fire time) is a row of ``monitor_schedule_runs``, its primary key. A tick, for
each ``Scheduled`` schedule, walks the fire times after the schedule's last claimed one up to
now (catching up after downtime: nothing is skipped), and for each

1. *claims* the window: inserts its row (state ``claimed``, this process as owner, the job's
   name derived from schedule and fire time). A second scheduler's insert of the same key fails,
   so it never runs that window;
2. submits the execution job under that name, then marks the row ``submitted``.

A scheduler killed between 1 and 2 leaves a ``claimed`` row whose owner is dead (or, when it
cannot be checked, whose claim is older than :data:`LEASE_SECONDS`): the next tick takes it over
and submits the job, which the job store's unique name makes happen at most once; a job stored
but never launched (killed between the two) is launched then. Jobs run in processes of their
own, so one already started finishes while no scheduler runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from forgeml.errors import AlreadyExistsError, ForgeError
from forgeml.monitoring import _schedule as sc

if TYPE_CHECKING:
    from forgeml.core.records import ResourceRecord
    from forgeml.core.workspace import Workspace

log = logging.getLogger("forgeml.monitoring.scheduler")
LEASE_SECONDS = 120.0
MAX_WINDOWS_PER_TICK = 48
NEVER_STARTED = "job was never started"  # the job service's reason for a job whose launch was lost

_meta = sa.MetaData()
runs = sa.Table(
    "monitor_schedule_runs",
    _meta,
    sa.Column("schedule", sa.String(255), primary_key=True),
    sa.Column("fire_time", sa.Float, primary_key=True),
    sa.Column("window_start", sa.Float, nullable=False),
    sa.Column("window_end", sa.Float, nullable=False),
    sa.Column("job", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("claimed_at", sa.Float, nullable=False),
)


def _me() -> str:
    from forgeml.core.jobs._local import process_start_time

    return f"{socket.gethostname()}:{os.getpid()}:{process_start_time(os.getpid())}"


def _owner_alive(owner: str, claimed_at: float, now: float) -> bool:
    from forgeml.core.jobs._local import pid_alive

    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return now - claimed_at < LEASE_SECONDS  # another machine's: trust its lease
    return pid_alive(int(pid), start or None)


def job_name(schedule: str, fire: datetime) -> str:
    """The execution job's name: the same for the same window, whoever submits it."""
    digest = hashlib.sha1(schedule.encode()).hexdigest()[:6]
    return f"{schedule[:30].rstrip('-.')}-{digest}-{fire.strftime('%Y%m%d%H%M')}".replace(".", "-").replace("_", "-")


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class Scheduler:
    """Runs due windows of every schedule in a workspace (:meth:`tick` once, :meth:`run` forever)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.owner = _me()

    # claims --------------------------------------------------------------------------------------
    def claims(self, schedule: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(runs).order_by(runs.c.fire_time.desc())
        if schedule is not None:
            q = q.where(runs.c.schedule == schedule)
        with self.ws.metadata.read_transaction() as conn:  # type: ignore[attr-defined]
            return [dict(r._mapping) for r in conn.execute(q)]

    def _claim(self, schedule: str, fire: datetime, window: tuple[datetime, datetime]) -> bool:
        row = {"schedule": schedule, "fire_time": fire.timestamp(), "window_start": window[0].timestamp(),
               "window_end": window[1].timestamp(), "job": job_name(schedule, fire), "state": "claimed",
               "owner": self.owner, "claimed_at": time.time()}  # fmt: skip
        try:
            with self.ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
                conn.execute(runs.insert().values(**row))
        except sa.exc.IntegrityError:
            return False  # another scheduler has it
        return True

    def _take_over(self, row: dict[str, Any], now: float) -> bool:
        if row["state"] != "claimed" or row["owner"] == self.owner or _owner_alive(row["owner"], row["claimed_at"], now):
            return False
        with self.ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
            done = conn.execute(
                runs.update()
                .where(runs.c.schedule == row["schedule"], runs.c.fire_time == row["fire_time"],
                       runs.c.owner == row["owner"], runs.c.state == "claimed")
                .values(owner=self.owner, claimed_at=now)
            ).rowcount  # fmt: skip
        return bool(done)

    def _mark(self, schedule: str, fire_time: float, job: str) -> None:
        with self.ws.metadata.transaction() as conn:  # type: ignore[attr-defined]
            conn.execute(runs.update().where(runs.c.schedule == schedule, runs.c.fire_time == fire_time)
                         .values(state="submitted", job=job))  # fmt: skip

    # running -------------------------------------------------------------------------------------
    def _submit(self, record: ResourceRecord, fire_time: float, start: float, end: float) -> str:
        name = job_name(record.name, _dt(fire_time))
        try:
            self.ws.monitoring._submit_window(record, _dt(start), _dt(end), name)
        except AlreadyExistsError:  # stored before the crash: start it if its launch was lost
            job = self.ws.jobs.launch_if_orphaned(name)
            if job.status == "Failed" and (job.failure_reason or "").startswith(NEVER_STARTED):
                name = f"{name}-r"  # found and failed as never started before this takeover: once more
                try:
                    self.ws.monitoring._submit_window(record, _dt(start), _dt(end), name)
                except AlreadyExistsError:
                    self.ws.jobs.launch_if_orphaned(name)
        self._mark(record.name, fire_time, name)
        self.ws.metadata.append_event(record.ref, "MonitoringExecutionScheduled",
                                      {"job": name, "window_start": _dt(start).isoformat(), "window_end": _dt(end).isoformat()})  # fmt: skip
        return name

    def _fail(self, record: ResourceRecord, reason: str) -> None:
        log.warning("monitoring schedule %s failed: %s", record.name, reason)
        self.ws.metadata.update_resource(sc.SCHEDULE_KIND, record.name, record.version, status=sc.FAILED,
                                         data={"failure_reason": reason})  # fmt: skip

    def tick_schedule(self, record: ResourceRecord, now: datetime) -> list[str]:
        """Submit the due windows of one schedule; the job names submitted."""
        submitted: list[str] = []
        stamp = now.timestamp()
        if record.status == sc.PENDING:
            record = self.ws.metadata.update_resource(sc.SCHEDULE_KIND, record.name, record.version, status=sc.SCHEDULED)
        if record.status != sc.SCHEDULED:
            return submitted
        try:  # what it monitors must still be there
            if record.spec.get("baseline"):
                self.ws.monitoring.get(record.spec["baseline"])
            self.ws.endpoints.get(record.spec["endpoint"])
        except ForgeError as exc:
            self._fail(record, str(exc))
            return submitted
        mine = self.claims(record.name)
        for row in mine:  # windows a dead scheduler claimed and never submitted
            if self._take_over(row, stamp):
                submitted.append(self._submit(record, row["fire_time"], row["window_start"], row["window_end"]))
        cursor = max([r["fire_time"] for r in mine] + [record.spec["start_time"], record.data.get("resumed_at") or 0.0])
        cron = record.spec["cron"]
        for count, fire in enumerate(sc.fire_times(cron, _dt(cursor), now)):
            if count >= MAX_WINDOWS_PER_TICK:
                break  # a long downtime catches up over several ticks
            window = sc.window_of(cron, fire)
            if self._claim(record.name, fire, window):
                submitted.append(self._submit(record, fire.timestamp(), window[0].timestamp(), window[1].timestamp()))
        return submitted

    def tick(self, now: datetime | None = None) -> list[str]:
        """One pass over every schedule; the job names submitted. A schedule's error is logged
        and never stops the others."""
        now = now or datetime.now(UTC)
        out: list[str] = []
        for record in self.ws.metadata.list_resources(sc.SCHEDULE_KIND):
            try:
                out.extend(self.tick_schedule(record, now))
            except Exception:  # a bug in one schedule must not stop the scheduler
                log.exception("monitoring schedule %s: tick failed", record.name)
        return out

    def run(self, interval: float = 30.0, stop: threading.Event | None = None) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the store briefly unreachable: try again next time
                log.exception("monitoring scheduler tick failed")
            stop.wait(interval)


def start_thread(ws: Workspace, interval: float = 30.0) -> tuple[threading.Thread, threading.Event]:
    """The scheduler in a daemon thread (``forgeml server``); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=Scheduler(ws).run, args=(interval, stop), name="monitor-scheduler", daemon=True)
    thread.start()
    return thread, stop


__all__ = ["LEASE_SECONDS", "Scheduler", "job_name", "runs", "start_thread"]
