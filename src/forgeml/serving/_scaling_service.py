"""``ws.scaling``: Application Auto Scaling for endpoint variants (docs/autoscaling.md).

Targets bound a variant's instance count (its worker processes, see
:mod:`forgeml.serving._capacity`); target-tracking and step policies move it inside the bounds;
scheduled actions change the bounds at given times. :meth:`ScalingService.tick` is one round of
the loop ``forgeml server`` runs (:class:`forgeml.serving._scaling_loop.ScalingLoop`); each
decision is a durable *activity* recorded before it is applied and an ``AutoScaling`` event on
``endpoint/<name>`` with its cause, so a loop killed at any moment resumes without deciding or
applying anything twice (a decision sets an absolute count: applying it again changes nothing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ConflictError, ForgeError, NotFoundError, ValidationError
from forgeml.serving import _capacity as cap
from forgeml.serving import _scaling_math as sm
from forgeml.serving._scaling_config import (
    ScalableTarget,
    ScalingPolicy,
    ScheduledAction,
    parse,
    parse_resource_id,
)
from forgeml.serving._scaling_store import Activity, ScalingStore, policies, scheduled, targets

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

log = logging.getLogger("forgeml.serving.scaling")
EVENT = "AutoScaling"
DONE_EVENT = "AutoScalingCompleted"
APPLY_TIMEOUT = 120.0
NAMESPACE = "AWS/SageMaker"


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


class ScalingService:
    """Register targets, put policies and scheduled actions, run the scaling loop's rounds."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.db = ScalingStore(workspace.metadata)
        self._cpu: dict[int, tuple[float, float]] = {}  # pid -> (cpu seconds, wall time) at the last look

    # by endpoint (the faces) -------------------------------------------------------------------
    def rid(self, endpoint: str, variant: str) -> str:
        """The resource id of ``variant`` of the endpoint ``endpoint`` refers to (``ep``,
        ``ep:2``, ``endpoint/ep``).

        Raises:
            NotFoundError: no such endpoint. ValidationError: a malformed reference or variant.
        """
        name = self.ws.endpoints.get(endpoint).name
        out = resource_id(name, variant)
        parse_resource_id(out)
        return out

    def describe(self, endpoint: str) -> dict[str, Any]:
        """An endpoint's targets (with current capacity), policies and scheduled actions.

        Raises:
            NotFoundError: no such endpoint.
        """
        record = self.ws.endpoints.get(endpoint)
        mine = self.targets(record.name)
        rids = [t["resource_id"] for t in mine]
        return {
            "endpoint": record.name, "instance_counts": cap.instance_counts(record), "targets": mine,
            "policies": [p for r in rids for p in self.policies(r)],
            "scheduled_actions": [a for r in rids for a in self.scheduled_actions(r)],
        }  # fmt: skip

    def endpoint_activities(self, endpoint: str, variant: str | None = None, limit: int = 100) -> list[Activity]:
        """The endpoint's scaling activities (one variant's, or all), newest first.

        Raises:
            NotFoundError: no such endpoint.
        """
        name = self.ws.endpoints.get(endpoint).name
        if variant is not None:
            return self.db.activities(self.rid(name, variant), limit=limit)
        prefix = f"endpoint/{name}/variant/"
        return [a for a in self.db.activities(None, limit=limit * 10) if a.resource_id.startswith(prefix)][:limit]

    # targets ---------------------------------------------------------------------------------------
    def register_target(self, config: dict[str, Any] | ScalableTarget) -> dict[str, Any]:
        """``RegisterScalableTarget`` (create or update the bounds).

        Raises:
            ValidationError: bad bounds; MinCapacity 0 on an endpoint without ``async_inference``.
            NotFoundError: no such endpoint or variant.
        """
        cfg: ScalableTarget = parse(ScalableTarget, config, "scalable target")
        endpoint, variant = parse_resource_id(cfg.resource_id)
        record = self.ws.endpoints.get(endpoint)
        if variant not in cap.instance_counts(record):
            raise NotFoundError(f"endpoint {endpoint!r} has no variant {variant!r}")
        if cfg.min_capacity == 0 and not record.spec.get("async_inference"):
            raise ValidationError(f"min_capacity 0 needs an async endpoint (endpoint {endpoint!r} has no async_inference config); "
                                  "real-time endpoints keep at least 1 instance")  # fmt: skip
        now = time.time()
        self.db.upsert(targets, {"resource_id": cfg.resource_id},
                       {"endpoint": endpoint, "variant": variant, "config": cfg.model_dump(mode="json"), "created_at": now, "updated_at": now}
                       if not self.db.rows(targets, resource_id=cfg.resource_id) else
                       {"config": cfg.model_dump(mode="json"), "updated_at": now})  # fmt: skip
        self.ws.metadata.append_event(f"endpoint/{endpoint}", "ScalableTargetRegistered", cfg.model_dump(mode="json"))
        return self.target(cfg.resource_id)

    def target(self, rid: str) -> dict[str, Any]:
        """A registered target with its current capacity.

        Raises:
            NotFoundError: not registered.
        """
        rows = self.db.rows(targets, resource_id=rid)
        if not rows:
            raise NotFoundError(f"no scalable target {rid!r} is registered")
        return self._describe(rows[0])

    def targets(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """``DescribeScalableTargets``."""
        rows = self.db.rows(targets, endpoint=endpoint) if endpoint else self.db.rows(targets)
        return [self._describe(r) for r in rows]

    def _describe(self, row: dict[str, Any]) -> dict[str, Any]:
        current: int | None = None
        with contextlib.suppress(NotFoundError):
            current = cap.instance_counts(self.ws.endpoints.get(row["endpoint"])).get(row["variant"])
        return {**row["config"], "endpoint": row["endpoint"], "variant": row["variant"], "current_capacity": current,
                "created_at": row["created_at"]}  # fmt: skip

    def deregister_target(self, rid: str) -> None:
        """``DeregisterScalableTarget``: forget the target, its policies and scheduled actions.

        Raises:
            NotFoundError: not registered.
        """
        self.target(rid)
        for table in (policies, scheduled):
            self.db.delete(table, resource_id=rid)
        self.db.delete(targets, resource_id=rid)

    # policies and schedules ------------------------------------------------------------------
    def put_policy(self, config: dict[str, Any] | ScalingPolicy) -> dict[str, Any]:
        """``PutScalingPolicy`` (create or replace by name).

        Raises:
            ValidationError: a bad policy. NotFoundError: no registered target, or a step
            policy's alarm does not exist.
        """
        cfg: ScalingPolicy = parse(ScalingPolicy, config, "scaling policy")
        self.target(cfg.resource_id)
        if cfg.step_scaling is not None:
            self.ws.alarms.get(cfg.step_scaling.alarm)
        self.db.upsert(policies, {"resource_id": cfg.resource_id, "name": cfg.name},
                       {"policy_type": cfg.policy_type, "config": cfg.model_dump(mode="json"), "created_at": time.time()})  # fmt: skip
        return cfg.model_dump(mode="json")

    def policies(self, rid: str | None = None) -> list[dict[str, Any]]:
        """``DescribeScalingPolicies``."""
        rows = self.db.rows(policies, resource_id=rid) if rid else self.db.rows(policies)
        return [r["config"] for r in rows]

    def delete_policy(self, rid: str, name: str) -> None:
        """Raises: NotFoundError: no such policy."""
        if not self.db.delete(policies, resource_id=rid, name=name):
            raise NotFoundError(f"no scaling policy {name!r} on {rid!r}")

    def put_scheduled_action(self, config: dict[str, Any] | ScheduledAction) -> dict[str, Any]:
        """``PutScheduledAction`` (create or replace by name).

        Raises:
            ValidationError: a bad schedule or bounds. NotFoundError: no registered target.
        """
        cfg: ScheduledAction = parse(ScheduledAction, config, "scheduled action")
        self.target(cfg.resource_id)
        self.db.upsert(scheduled, {"resource_id": cfg.resource_id, "name": cfg.name},
                       {"config": cfg.model_dump(mode="json"), "created_at": time.time(), "last_fire": None})  # fmt: skip
        return cfg.model_dump(mode="json")

    def scheduled_actions(self, rid: str | None = None) -> list[dict[str, Any]]:
        """``DescribeScheduledActions``."""
        rows = self.db.rows(scheduled, resource_id=rid) if rid else self.db.rows(scheduled)
        return [{**r["config"], "last_fire": r["last_fire"]} for r in rows]

    def delete_scheduled_action(self, rid: str, name: str) -> None:
        """Raises: NotFoundError: no such scheduled action."""
        if not self.db.delete(scheduled, resource_id=rid, name=name):
            raise NotFoundError(f"no scheduled action {name!r} on {rid!r}")

    def activities(self, rid: str | None = None, limit: int = 100) -> list[Activity]:
        """``DescribeScalingActivities``, newest first."""
        return self.db.activities(rid, limit=limit)

    # manual capacity and wake-up -----------------------------------------------------------------
    def set_capacity(self, endpoint: str, variant: str, count: int, *, wait: bool = True) -> Activity:
        """Set a variant's instance count by hand (``UpdateEndpointWeightsAndCapacities``'
        ``DesiredInstanceCount``), within its target's bounds when one is registered.

        Raises:
            ValidationError: outside the registered bounds. NotFoundError / ConflictError: as
            :func:`forgeml.serving._capacity.set_instance_count`.
        """
        rid = resource_id(endpoint, variant)
        rows = self.db.rows(targets, resource_id=rid)
        if rows:
            bounds = rows[0]["config"]
            if not bounds["min_capacity"] <= count <= bounds["max_capacity"]:
                raise ValidationError(f"{count} is outside {rid}'s bounds [{bounds['min_capacity']}, {bounds['max_capacity']}]")
        record = cap.serving_record(self.ws, endpoint)
        current = cap.instance_counts(record).get(variant)
        if current is None:
            raise NotFoundError(f"endpoint {endpoint!r} has no variant {variant!r}")
        act = self._begin(rid, current, count, f"set by hand from {current} to {count}", None)
        assert act is not None
        return self._apply(act, wait=wait)

    def wake(self, endpoint: str) -> list[Activity]:
        """Start one instance of each variant with no instances whose target allows one: the
        first queued request of a scaled-to-zero async endpoint (``HasBacklogWithoutCapacity``)."""
        out = []
        for row in self.db.rows(targets, endpoint=endpoint):
            try:
                record = cap.serving_record(self.ws, endpoint)
            except ForgeError:
                return out
            current = cap.instance_counts(record).get(row["variant"], 0)
            if current == 0 and row["config"]["max_capacity"] >= 1 and not row["config"]["dynamic_scaling_out_suspended"]:
                act = self._begin(row["resource_id"], 0, max(1, row["config"]["min_capacity"]),
                                  "HasBacklogWithoutCapacity: a request was queued while the variant had no instances", None)  # fmt: skip
                if act is not None:
                    out.append(self._apply(act, wait=False))
        return out

    # the loop's round ----------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[Activity]:
        """One round over every target: finish interrupted activities, fire due scheduled
        actions, keep capacity within bounds, apply the policies. Returns the activities begun."""
        out: list[Activity] = []
        for row in self.db.rows(targets):
            try:
                out.extend(self._tick_target(row, time.time() if now is None else now))
            except Exception:  # one target's trouble never stops the others
                log.exception("autoscaling of %s failed", row["resource_id"])
        return out

    def _tick_target(self, row: dict[str, Any], now: float) -> list[Activity]:
        rid, endpoint, variant = row["resource_id"], row["endpoint"], row["variant"]
        out: list[Activity] = []
        for act in self.db.activities(rid, status="InProgress", limit=5):
            self._resume(act)
        try:
            record = cap.serving_record(self.ws, endpoint)
        except (NotFoundError, ConflictError):
            return out
        current = cap.instance_counts(record).get(variant)
        if current is None:
            return out
        bounds: dict[str, Any] = dict(row["config"])
        if not bounds["scheduled_scaling_suspended"]:
            for action in self.db.rows(scheduled, resource_id=rid):
                act = self._scheduled(rid, action, bounds, current, now)
                if act is not None:
                    out.append(act)
                    bounds = self.db.rows(targets, resource_id=rid)[0]["config"]
                    current = act.to_capacity
        low, high = bounds["min_capacity"], bounds["max_capacity"]
        if not low <= current <= high:
            act = self._begin(rid, current, sm.clamp(current, low, high), f"capacity {current} is outside the bounds [{low}, {high}]", None)
            if act is not None:
                out.append(self._apply(act))
            return out
        decision = self._decide(rid, endpoint, variant, bounds, current, record, now)
        if decision is not None:
            to, cause, policy = decision
            act = self._begin(rid, current, to, cause, policy)
            if act is not None:
                out.append(self._apply(act))
        return out

    def _scheduled(self, rid: str, action: dict[str, Any], bounds: dict[str, Any], current: int, now: float) -> Activity | None:
        cfg = action["config"]
        if cfg.get("end_time") is not None and now > cfg["end_time"]:
            return None
        anchor = cfg.get("start_time") or action["created_at"]
        after = max(action["last_fire"] or action["created_at"], cfg.get("start_time") or 0.0)
        fire = sm.latest_fire(cfg["schedule"], cfg.get("timezone") or "UTC", after=after, now=now, anchor=anchor)
        if fire is None:
            return None
        low = cfg["min_capacity"] if cfg.get("min_capacity") is not None else bounds["min_capacity"]
        high = cfg["max_capacity"] if cfg.get("max_capacity") is not None else bounds["max_capacity"]
        high = max(high, low)
        to = sm.clamp(current, low, high)
        act = self.db.begin(rid, cause=f"scheduled action {cfg['name']} ({cfg['schedule']}) set the bounds to [{low}, {high}]",
                            direction=_direction(current, to), from_capacity=current, to_capacity=to, policy=cfg["name"],
                            key=f"scheduled:{rid}:{cfg['name']}:{fire:.0f}", detail={"min_capacity": low, "max_capacity": high})  # fmt: skip
        self.db.set_last_fire(rid, cfg["name"], fire)
        if act is None:
            return None  # this fire time was handled before a restart
        self._event(act)
        return self._apply(act)

    def _decide(
        self, rid: str, endpoint: str, variant: str, bounds: dict[str, Any], current: int, record: Any, now: float
    ) -> tuple[int, str, str | None] | None:
        low, high = bounds["min_capacity"], bounds["max_capacity"]
        outs: list[tuple[int, str, str]] = []
        tt_ins: list[tuple[int, str, str]] = []
        step_ins: list[tuple[int, str, str]] = []
        tt_in_vetoed = False  # scale in only if every scale-in-enabled target-tracking policy wants it
        for row in self.db.rows(policies, resource_id=rid):
            cfg = row["config"]
            if cfg["policy_type"] == "StepScaling":
                step = self._step(rid, cfg, current, now)
                if step is not None:
                    (outs if step[0] > current else step_ins).append(step)
                continue
            tt = cfg["target_tracking"]
            metric = self.metric(tt["metric"], endpoint, variant, current, record, tt["metric_period_seconds"], now)
            want = sm.target_tracking(current, metric, tt["target_value"], scale_in_ratio=tt["scale_in_ratio"])
            shown = "no data" if metric is None else f"{metric:.4g}"
            cause = f"policy {cfg['name']}: {tt['metric']} {shown} vs target {tt['target_value']:g}"
            if want is not None and want > current:
                # during the scale-out cooldown a further scale-out happens only when it is larger
                # than the capacity the last one set, which is the current one: so it always may
                outs.append((want, cause, cfg["name"]))
            elif tt["disable_scale_in"]:
                continue
            elif want is not None and want < current:
                last_in, last_out = self.db.last(rid, "in"), self.db.last(rid, "out")
                cooled = (last_in is None or now - last_in >= tt["scale_in_cooldown"]) and (
                    last_out is None or now - last_out >= tt["scale_out_cooldown"])  # fmt: skip
                if cooled:
                    tt_ins.append((want, cause, cfg["name"]))
                else:
                    tt_in_vetoed = True
            else:
                tt_in_vetoed = True
        if current == 0 and not outs and self._backlog(endpoint) > 0:
            outs.append((1, "HasBacklogWithoutCapacity: requests are queued while the variant has no instances", "HasBacklogWithoutCapacity"))
        if outs and not bounds["dynamic_scaling_out_suspended"]:
            want, cause, policy = max(outs, key=lambda o: o[0])  # the largest capacity wins
            to = sm.clamp(want, low, high)
            return (to, cause, policy) if to > current else None
        ins = step_ins + ([] if tt_in_vetoed else tt_ins)
        if ins and not bounds["dynamic_scaling_in_suspended"]:
            want, cause, policy = max(ins, key=lambda o: o[0])
            to = sm.clamp(want, low, high)
            return (to, cause, policy) if to < current else None
        return None

    def _step(self, rid: str, cfg: dict[str, Any], current: int, now: float) -> tuple[int, str, str] | None:
        st = cfg["step_scaling"]
        try:
            alarm = self.ws.alarms.get(st["alarm"])
        except NotFoundError:
            return None
        if alarm.status != "ALARM":
            return None
        last = self.db.last(rid, "out", cfg["name"]) or 0.0
        last = max(last, self.db.last(rid, "in", cfg["name"]) or 0.0)
        if now - last < st["cooldown"]:
            return None
        values = [v for v in (alarm.data.get("reason_data") or {}).get("recentDatapoints", []) if v is not None]
        threshold = float(alarm.data["config"]["threshold"])
        if not values:
            values = [threshold]  # forced into ALARM (set_state): the lowest step at or above the threshold
        agg = {"Average": sum(values) / len(values), "Minimum": min(values), "Maximum": max(values)}[st["metric_aggregation_type"]]
        steps = [(s["lower"], s["upper"], s["adjustment"]) for s in st["steps"]]
        want = sm.step_adjust(current, agg, threshold, steps, st["adjustment_type"], st.get("min_adjustment_magnitude"))
        if want is None or want == current:
            return None
        return want, f"policy {cfg['name']}: alarm {alarm.name} in ALARM ({st['metric_aggregation_type']} {agg:.4g}, threshold {threshold:g})", cfg["name"]

    # metrics -----------------------------------------------------------------------------------
    def metric(self, kind: str, endpoint: str, variant: str, current: int, record: Any, period: float, now: float) -> float | None:
        """The value a target-tracking policy compares with its target (None: no data)."""
        from forgeml.alarms._metrics import MetricsStore, aggregate

        if kind == "ApproximateBacklogSizePerInstance":
            size = self._backlog(endpoint)
            return size / current if current else float(size)
        if current <= 0:
            return None
        dims = {"EndpointName": endpoint, "VariantName": variant}
        if kind == "SageMakerVariantInvocationsPerInstance":
            found = MetricsStore(self.ws.metadata).query(NAMESPACE, "Invocations", dims, now - period, now)
            total = aggregate(found, "Sum") or 0.0  # no traffic publishes nothing: 0 invocations
            return total / current * (60.0 / period)
        if kind == "ModelLatency":
            return aggregate(MetricsStore(self.ws.metadata).query(NAMESPACE, "ModelLatency", dims, now - period, now), "Average")
        return self._cpu_percent(record)

    def _backlog(self, endpoint: str) -> int:
        try:
            return int(self.ws.async_inference.queue.depth(endpoint))
        except ForgeError:
            return 0

    def _cpu_percent(self, record: Any) -> float | None:
        """The workers' average CPU use in percent since the last look (None the first time)."""
        pids = cap.pool_state(record).get("pids") or []
        tick = os.sysconf("SC_CLK_TCK")
        values = []
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                continue
            wall = time.monotonic()
            before = self._cpu.get(pid)
            self._cpu[pid] = (cpu, wall)
            if before is not None and wall > before[1]:
                values.append(100.0 * (cpu - before[0]) / (wall - before[1]))
        return sum(values) / len(values) if values else None

    # acting --------------------------------------------------------------------------------------
    def _begin(self, rid: str, current: int, to: int, cause: str, policy: str | None) -> Activity | None:
        act = self.db.begin(rid, cause=cause, direction=_direction(current, to), from_capacity=current, to_capacity=to, policy=policy)
        if act is not None:
            self._event(act)
        return act

    def _event(self, act: Activity) -> None:
        endpoint, _ = parse_resource_id(act.resource_id)
        self.ws.metadata.append_event(f"endpoint/{endpoint}", EVENT, act.to_dict())

    def _apply(self, act: Activity, wait: bool = True) -> Activity:
        endpoint, variant = parse_resource_id(act.resource_id)
        try:
            if act.detail and "min_capacity" in act.detail:  # a scheduled action's new bounds
                row = self.db.rows(targets, resource_id=act.resource_id)[0]
                self.db.upsert(targets, {"resource_id": act.resource_id},
                               {"config": {**row["config"], **act.detail}, "updated_at": time.time()})  # fmt: skip
            record = cap.serving_record(self.ws, endpoint)
            if cap.instance_counts(record).get(variant) != act.to_capacity:
                record = cap.set_instance_count(self.ws, endpoint, variant, act.to_capacity, wait=False)
            if not wait:
                return act
            cap.wait_for_pool(record, int(record.data.get("workers", 0)), APPLY_TIMEOUT)
        except ForgeError as exc:
            self.db.finish(act.activity_id, "Failed", exc.message)
            self._done(act, "Failed", exc.message)
            return self.db.get(act.activity_id) or act
        self.db.finish(act.activity_id, "Successful")
        self._done(act, "Successful", None)
        return self.db.get(act.activity_id) or act

    def _resume(self, act: Activity) -> None:
        """Finish an activity a killed loop began (applying its absolute count is idempotent)."""
        log.info("resuming scaling activity %s of %s", act.activity_id, act.resource_id)
        self._apply(act)

    def _done(self, act: Activity, status: str, message: str | None) -> None:
        endpoint, _ = parse_resource_id(act.resource_id)
        self.ws.metadata.append_event(f"endpoint/{endpoint}", DONE_EVENT,
                                      {"ActivityId": act.activity_id, "ResourceId": act.resource_id, "StatusCode": status,
                                       "StatusMessage": message, "ToCapacity": act.to_capacity})  # fmt: skip


def _direction(current: int, to: int) -> str:
    return "out" if to > current else "in" if to < current else "none"


__all__ = ["DONE_EVENT", "EVENT", "ScalingService", "resource_id"]
