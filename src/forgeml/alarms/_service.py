"""``ws.alarms``: metric alarms with CloudWatch's states, history and state-change events.

An alarm is a resource of kind ``alarm`` (one version); its status is its state (``OK``,
``ALARM``, ``INSUFFICIENT_DATA``), its config lives in ``data["config"]``. Every state change
appends an ``AlarmStateChange`` event on ``alarm/<name>`` (EventBridge's "CloudWatch Alarm State
Change" detail: ``alarmName``, ``state``, ``previousState``) — the trigger rollouts and pipelines
watch — and, when the alarm names one and the operator allowed its host, posts it to a webhook.
The events are the alarm's history.
"""

from __future__ import annotations

import builtins
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from forgeml.alarms._config import AlarmConfig, parse_alarm
from forgeml.alarms._evaluate import OPERATORS, STATES, breaches, judge
from forgeml.alarms._metrics import MetricsStore
from forgeml.core.records import ResourceRecord
from forgeml.core.refs import name_of
from forgeml.errors import ConflictError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.records import EventRecord
    from forgeml.core.workspace import Workspace

KIND = "alarm"
STATE_EVENT = "AlarmStateChange"
CONFIG_EVENT = "AlarmConfigurationChange"
ACTION_EVENT = "AlarmAction"
log = logging.getLogger(__name__)


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class AlarmService:
    """Put, evaluate and inspect metric alarms."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.metadata
        self.metrics = MetricsStore(workspace.metadata)

    # configuration ----------------------------------------------------------------------------
    def put(self, config: dict[str, Any] | AlarmConfig) -> ResourceRecord:
        """Create an alarm (state INSUFFICIENT_DATA) or replace its config (its state is kept).

        Raises:
            ValidationError: a bad config, naming the field.
        """
        cfg = parse_alarm(config, self.ws.settings.allowed_webhook_hosts)
        body = cfg.model_dump(mode="json")
        existing = self.store.list_resources(KIND, name=cfg.name, limit=1)
        if existing:
            record = self.store.update_resource(KIND, cfg.name, 1, data={"config": body})
            self.store.append_event(
                record.ref, CONFIG_EVENT, {"alarmName": cfg.name, "operation": "update"}
            )
            return record
        now = time.time()
        record = self.store.create_resource(ResourceRecord(
            KIND, cfg.name, 1, "INSUFFICIENT_DATA", spec=body,
            data={"config": body, "reason": "Unchecked: Initial alarm creation", "state_updated_at": now},
        ))  # fmt: skip
        self.store.append_event(
            record.ref, CONFIG_EVENT, {"alarmName": cfg.name, "operation": "create"}
        )
        return record

    def get(self, name: str) -> ResourceRecord:
        """The alarm ``name`` (``cpu-high`` or ``alarm/cpu-high``).

        Raises:
            NotFoundError: no such alarm.
        """
        name = name_of(name, KIND)
        found = self.store.list_resources(KIND, name=name, limit=1)
        if not found:
            raise NotFoundError(f"alarm {name!r} does not exist")
        return found[0]

    def list(self, state: str | None = None) -> list[ResourceRecord]:
        """Every alarm (optionally only those in ``state``), by name."""
        if state is not None and state not in STATES:
            raise ValidationError(
                f"unknown alarm state {state!r} (expected one of {', '.join(STATES)})"
            )
        found = (
            self.store.list_resources(KIND, status=state)
            if state
            else self.store.list_resources(KIND)
        )
        return sorted(found, key=lambda r: r.name)

    def delete(self, name: str) -> None:
        """Forget an alarm (its history events stay)."""
        record = self.get(name)
        self.store.delete_resource(KIND, record.name)
        self.store.append_event(
            record.ref, CONFIG_EVENT, {"alarmName": record.name, "operation": "delete"}
        )

    def history(self, name: str, limit: int = 100) -> builtins.list[EventRecord]:
        """The alarm's latest ``limit`` history items (state changes, configuration changes,
        actions), oldest first."""
        name = name_of(name, KIND)
        mine = (
            STATE_EVENT,
            CONFIG_EVENT,
            ACTION_EVENT,
        )  # not the store's own Created/StatusChanged/Updated
        found = self.store.list_events(resource=f"{KIND}/{name}", limit=limit * 4, newest=True)
        return [e for e in found if e.type in mine][-limit:]

    def set_state(self, name: str, state: str, reason: str) -> ResourceRecord:
        """``SetAlarmState``: force a state until the next evaluation (tests, drills)."""
        if state not in STATES:
            raise ValidationError(
                f"unknown alarm state {state!r} (expected one of {', '.join(STATES)})"
            )
        record = self.get(name)
        return self._transition(record, state, reason, {}) or self.get(name)

    # evaluation -------------------------------------------------------------------------------
    def evaluate(
        self, names: builtins.list[str] | None = None, now: float | None = None
    ) -> builtins.list[ResourceRecord]:
        """Evaluate alarms (all, or ``names``) at ``now``; returns those whose state changed.

        Raises:
            NotFoundError: a named alarm does not exist.
        """
        records = [self.get(n) for n in names] if names is not None else self.list()
        now = time.time() if now is None else now
        changed = []
        for record in records:
            out = self.evaluate_one(record, now)
            if out is not None:
                changed.append(out)
        return changed

    def evaluate_one(self, record: ResourceRecord, now: float) -> ResourceRecord | None:
        """Evaluate one alarm; the new record if its state changed, else None."""
        cfg = AlarmConfig.model_validate(record.data["config"])
        n, m = cfg.evaluation_periods, int(cfg.datapoints_to_alarm or cfg.evaluation_periods)
        end = now  # a sliding window: the newest period ends at the evaluation time
        span = (n + 2) * cfg.period
        stats = self.metrics.statistics(cfg.namespace, cfg.metric_name, cfg.dimensions, start=end - span, end=end,
                                        period=cfg.period, statistic=cfg.statistic)  # fmt: skip
        values = [v for _, v in stats]
        outcome = judge(
            breaches(values, cfg.comparison_operator, cfg.threshold), n, m, cfg.treat_missing_data
        )
        if outcome.state is None or outcome.state == record.status:
            return None
        recent = [(t, v) for t, v in stats if v is not None][-n:]
        shown = ", ".join(
            f"{v:g} ({datetime.fromtimestamp(t, UTC):%d/%m/%y %H:%M:%S})"
            for t, v in reversed(recent)
        )
        verb = OPERATORS[cfg.comparison_operator][1]
        if outcome.state == "INSUFFICIENT_DATA":
            reason = f"Insufficient Data: {n} datapoint(s) were unknown."
        else:
            was = "was" if outcome.state == "ALARM" else "was not"
            reason = (f"Threshold Crossed: {outcome.breaching} out of the last {outcome.judged} datapoints [{shown}] {was} {verb} "
                      f"the threshold ({float(cfg.threshold)}) (minimum {m} datapoint(s) for OK -> ALARM transition).")  # fmt: skip
        reason_data = {"version": "1.0", "queryDate": _stamp(now), "startDate": _stamp(end - span), "statistic": cfg.statistic,
                       "period": cfg.period, "recentDatapoints": [v for _, v in recent], "threshold": float(cfg.threshold),
                       "evaluatedDatapoints": [{"timestamp": _stamp(t), "value": v} for t, v in stats]}  # fmt: skip
        return self._transition(record, outcome.state, reason, reason_data)

    def _transition(
        self, record: ResourceRecord, state: str, reason: str, reason_data: dict[str, Any]
    ) -> ResourceRecord | None:
        now = time.time()
        try:
            out = self.store.update_resource(KIND, record.name, 1, status=state, expected_status=[record.status],
                                             data={"reason": reason, "reason_data": reason_data, "state_updated_at": now})  # fmt: skip
        except (ConflictError, NotFoundError):
            return None  # another evaluator moved it first, or it was deleted
        if state == record.status:
            return out
        detail = {
            "alarmName": record.name,
            "state": {"value": state, "reason": reason, "reasonData": reason_data, "timestamp": _stamp(now)},
            "previousState": {"value": record.status, "reason": record.data.get("reason", ""),
                              "timestamp": _stamp(record.data.get("state_updated_at") or record.updated_at)},
            "summary": f"Alarm updated from {record.status} to {state}",
        }  # fmt: skip
        event = self.store.append_event(out.ref, STATE_EVENT, detail)
        cfg = record.data.get("config") or {}
        if cfg.get("webhook_url") and cfg.get("actions_enabled", True):
            self._webhook(out, cfg["webhook_url"], event)
        return out

    def _webhook(self, record: ResourceRecord, url: str, event: EventRecord) -> None:
        """Post the state change; the outcome is an ``AlarmAction`` history item, never an error."""
        import httpx

        try:
            parse_alarm(
                record.data["config"], self.ws.settings.allowed_webhook_hosts
            )  # still allowed now?
            body = {"source": "forgeml.alarms", "detail-type": "Alarm State Change", "time": _stamp(event.time),
                    "resources": [record.ref], "detail": event.data}  # fmt: skip
            response = httpx.post(url, json=body, timeout=5.0, follow_redirects=False)
            result = {"url": url, "status": response.status_code, "ok": response.is_success}
        except (httpx.HTTPError, ValidationError) as exc:
            result = {"url": url, "ok": False, "error": str(exc)}
        self.store.append_event(record.ref, ACTION_EVENT, result)


__all__ = ["CONFIG_EVENT", "KIND", "STATE_EVENT", "AlarmService"]
