"""Blue/green and rolling deployments with traffic shifting, baking and alarm-driven rollback.

A deployment is a durable state machine, a resource of kind ``endpoint-deployment`` (name: the
endpoint, versions 1, 2, ... of its own; ``data`` names the blue and green endpoint versions) whose ``data`` holds its state and every step with
its start and end times::

    Provisioning -> Shifting/Baking (one per step) -> TerminatingBlue -> Completed
                 \\-> Failed (the new fleet did not start)  any bake -> RollingBack -> RolledBack
                                                                     (or UpdateRollbackFailed)

Traffic is split between the two fleets (the old "blue" endpoint version and the new "green"
one) by :meth:`EndpointService.serving`: it reads the green record's ``traffic_share`` and picks
green with that probability. SDK invocations choose per request; the REST proxy caches its
choice for up to one second, so over REST the split is by the second. Before a fleet is stopped
no new request is sent to it for longer than that cache lives, so a shift drops no request.

A rolling update (``RollingUpdatePolicy``) moves the new fleet in one batch at a time
(``MaximumBatchSize`` of its capacity, a bake of ``WaitIntervalInSeconds`` after each batch); its
rollback brings the old fleet back ``RollbackMaximumBatchSize`` at a time (all at once by
default). On one machine both fleets are process groups that run whole for the length of the
update; a batch is the share of traffic (and so of the work) the new one takes over.

A deployment whose driving process died (a restart mid-shift) is rolled back by
:func:`recover`, which ``forgeml server`` runs on start and on every alarm tick.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from typing import TYPE_CHECKING, Any

from forgeml.core.records import ResourceRecord
from forgeml.errors import BackendUnavailableError, ForgeError, NotFoundError
from forgeml.serving import _process as proc
from forgeml.serving._rollout_config import (
    DeploymentConfig,
    parse_deployment,
    rollback_steps,
    shift_steps,
)

if TYPE_CHECKING:
    from forgeml.serving._config import EndpointConfig
    from forgeml.serving._service import EndpointService

KIND = "endpoint-deployment"
ACTIVE = ("Provisioning", "Shifting", "Baking", "TerminatingBlue", "RollingBack")
DRAIN_SECONDS = 1.5  # longer than the REST proxy's one-second cache of where an endpoint serves
POLL_SECONDS = 0.25
ROLLBACK_BATCH_SECONDS = 0.25  # between a rolling update's rollback batches


class _RollBack(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check(
    svc: EndpointService, config: dict[str, Any] | DeploymentConfig, cfg: EndpointConfig
) -> tuple[DeploymentConfig, list[float]]:
    """The checked config and its traffic steps, before anything changes.

    Raises:
        ValidationError: a bad config, a size out of range. NotFoundError: an unknown alarm.
    """
    dep = parse_deployment(config)
    steps = shift_steps(dep, cfg.workers)
    for alarm in dep.alarms:
        try:
            svc.ws.alarms.get(alarm)
        except NotFoundError:
            raise NotFoundError(
                f"deployment config: AutoRollbackConfiguration.Alarms: alarm {alarm!r} does not exist"
            ) from None
    return dep, steps


class Deployment:
    """Drives one deployment from a started green fleet to Completed or RolledBack."""

    def __init__(self, svc: EndpointService, blue: ResourceRecord, green: ResourceRecord, dep: DeploymentConfig,
                 steps: list[float]) -> None:  # fmt: skip
        self.svc, self.store = svc, svc.store
        self.blue, self.green, self.dep, self.steps = blue, green, dep, steps
        self.name = green.name
        self.started = time.time()
        self.record = self.store.create_resource(
            ResourceRecord(
                KIND,
                self.name,
                1,
                "Provisioning",
                spec=dep.model_dump(mode="json"),
                data={
                    "blue_version": blue.version,
                    "green_version": green.version,
                    "steps": [],
                    "shares": steps,
                    "policy": "RollingUpdate" if dep.rolling else "BlueGreen",
                    "driver": {"pid": os.getpid(), "host": os.uname().nodename},
                    "started_at": self.started,
                },
            ),
            next_version=True,
        )  # fmt: skip  (own numbering: a rolled-back green version number is reused)
        self._step("Provisioning", f"start version {green.version} next to version {blue.version}")

    # bookkeeping ------------------------------------------------------------------------------
    def _step(self, status: str, label: str, **extra: Any) -> None:
        steps = list(self.store.get_resource(KIND, self.name, self.record.version).data["steps"])
        now = time.time()
        if steps and steps[-1].get("ended_at") is None:
            steps[-1]["ended_at"] = now
        steps.append({"step": label, "started_at": now, "ended_at": None, **extra})
        self.record = self.store.update_resource(
            KIND, self.name, self.record.version, status=status, data={"steps": steps}
        )

    def _finish(self, status: str, **data: Any) -> None:
        steps = list(self.store.get_resource(KIND, self.name, self.record.version).data["steps"])
        if steps and steps[-1].get("ended_at") is None:
            steps[-1]["ended_at"] = time.time()
        self.record = self.store.update_resource(KIND, self.name, self.record.version, status=status,
                                                 data={"steps": steps, "ended_at": time.time(), **data})  # fmt: skip

    def _share(self, share: float) -> None:
        self.store.update_resource(
            "endpoint", self.name, self.green.version, data={"traffic_share": share}
        )

    # the machine ------------------------------------------------------------------------------
    def run(self) -> ResourceRecord:
        """Shift, bake, terminate blue; roll back on an alarm or the time limit.

        Returns the endpoint's serving record afterwards (green on success, blue after a
        rollback). Raises BackendUnavailableError only when the rollback itself failed.
        """
        wait, rolling, n = self.dep.wait_seconds, self.dep.rolling, len(self.steps)
        try:
            for i, share in enumerate(self.steps):
                self._share(share)
                label = f"shift {share:.0%} of traffic to version {self.green.version}"
                self._step("Shifting", f"batch {i + 1}/{n}: {label}" if rolling else label, traffic_share=share)
                final = i == len(self.steps) - 1
                bake = f"bake batch {i + 1}/{n}" if rolling else f"bake at {share:.0%}"
                self._step("Baking", "final bake" if final else bake, seconds=wait)
                self._bake(wait, self.dep.time_limit)
        except _RollBack as stop:
            return self.roll_back(stop.reason)
        except BaseException as exc:
            reason = exc.message if isinstance(exc, ForgeError) else f"{type(exc).__name__}: {exc}"
            self.roll_back(f"the deployment stopped: {reason}")
            raise
        self._step(
            "TerminatingBlue",
            f"wait {self.dep.termination_wait}s, then stop version {self.blue.version}",
        )
        time.sleep(max(self.dep.termination_wait, DRAIN_SECONDS))
        proc.stop_server(self.blue.data, grace=5.0)
        self.store.update_resource("endpoint", self.name, self.blue.version, status="OutOfService")
        out = self.store.update_resource("endpoint", self.name, self.green.version, status="InService",
                                         data={"traffic_share": None, "blue_version": None,
                                               "last_deployment": {"version": self.green.version, "status": "Completed"}})  # fmt: skip
        self._finish("Completed")
        self.svc.ws.lineage.record(self.blue.ref, out.ref, "updated")
        return out

    def _bake(self, seconds: float, limit: float) -> None:
        until = time.monotonic() + seconds
        while True:
            self._check_alarms()
            if not proc.is_running(self.green.data):
                raise _RollBack(
                    f"the server of version {self.green.version} exited during the bake"
                )
            if time.time() - self.started > limit:
                raise _RollBack(
                    f"the deployment ran past MaximumExecutionTimeoutInSeconds ({int(limit)} s)"
                )
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(POLL_SECONDS, left))

    def _check_alarms(self) -> None:
        names = self.dep.alarms
        if not names:
            return
        alarms = self.svc.ws.alarms
        alarms.evaluate(names)
        for name in names:
            record = alarms.get(name)
            if record.status == "ALARM":
                raise _RollBack(f"alarm {name!r} went into ALARM: {record.data.get('reason', '')}")

    def roll_back(self, reason: str) -> ResourceRecord:
        """All traffic back to blue, stop green, the endpoint InService on blue recording why."""
        try:
            self._step(
                "RollingBack", f"all traffic back to version {self.blue.version}", reason=reason
            )
            current = self.store.get_resource("endpoint", self.name, self.green.version).data.get("traffic_share") or 0.0
            batches = rollback_steps(self.dep.RollingUpdatePolicy, float(current), int(self.green.data.get("workers") or 1))
            for i, share in enumerate(batches):
                if i:
                    time.sleep(ROLLBACK_BATCH_SECONDS)
                self._share(share)
            if len(batches) > 1:
                self._step("RollingBack", f"rolled back in {len(batches)} batches: {', '.join(f'{b:.0%}' for b in batches)}")
            self.store.update_resource("endpoint", self.name, self.blue.version, status="InService",
                                       data={"last_deployment": {"version": self.green.version, "status": "RolledBack",
                                                                 "reason": reason}})  # fmt: skip
            time.sleep(DRAIN_SECONDS)
            proc.stop_server(self.green.data, grace=5.0)
            self.store.delete_resource("endpoint", self.name, self.green.version)
            shutil.rmtree(self.svc._dir(self.name, self.green.version), ignore_errors=True)
        except Exception as exc:
            why = exc.message if isinstance(exc, ForgeError) else f"{type(exc).__name__}: {exc}"
            self._finish("UpdateRollbackFailed", reason=f"{reason}; the rollback failed: {why}")
            self.store.update_resource("endpoint", self.name, self.blue.version, status="UpdateRollbackFailed",
                                       data={"failure_reason": f"rollback failed: {why}"})  # fmt: skip
            raise BackendUnavailableError(
                f"endpoint {self.name!r}: rolling back failed: {why}"
            ) from exc
        self._finish("RolledBack", reason=reason)
        return self.store.get_resource("endpoint", self.name, self.blue.version)


def latest(svc: EndpointService, name: str) -> ResourceRecord:
    """The endpoint's latest deployment.

    Raises:
        NotFoundError: the endpoint never had one.
    """
    found = svc.store.list_resources(KIND, name=name, limit=1)
    if not found:
        raise NotFoundError(
            f"endpoint {name!r} has no deployment; `forgeml endpoints update --deployment-config` makes one"
        )
    return found[0]


def recover(svc: EndpointService) -> list[str]:
    """Roll back every active deployment whose driving process on this host is gone (a server
    restarted mid-shift); returns their endpoint names."""
    out = []
    host = os.uname().nodename
    for record in svc.store.list_resources(KIND):
        driver = record.data.get("driver") or {}
        if (
            record.status not in ACTIVE
            or driver.get("host") != host
            or _alive(int(driver.get("pid", 0)))
        ):
            continue
        try:
            blue = svc.store.get_resource("endpoint", record.name, record.data["blue_version"])
            green = svc.store.get_resource("endpoint", record.name, record.data["green_version"])
        except NotFoundError:
            continue
        dep = Deployment.__new__(Deployment)
        dep.dep = parse_deployment(record.spec)
        dep.svc, dep.store, dep.blue, dep.green, dep.name, dep.record = (
            svc,
            svc.store,
            blue,
            green,
            record.name,
            record,
        )
        with contextlib.suppress(BackendUnavailableError):
            dep.roll_back(
                f"the process driving the deployment (pid {driver.get('pid')}) died mid-shift"
            )
        out.append(record.name)
    return out


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["ACTIVE", "KIND", "Deployment", "check", "latest", "recover"]
