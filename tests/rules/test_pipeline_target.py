"""The ``pipeline`` target kind the pipelines package registers: a matching event starts an
execution whose parameters come from the event (the closed loop's hop alarm -> retraining)."""

from __future__ import annotations

from typing import Any

import pytest

from forgeml.errors import ValidationError
from forgeml.pipelines import FailStep, Join, ParameterString, Pipeline

ALARM = {"source": ["forgeml.alarms"], "detail-type": ["CloudWatch Alarm State Change"],
         "detail": {"state": {"value": ["ALARM"]}}}  # fmt: skip


def test_an_alarm_event_starts_the_pipeline_with_parameters_from_the_event(ws: Any) -> None:
    reason = ParameterString("Reason", "none")
    ws.pipelines.create(Pipeline("retrain", parameters=[reason], steps=[FailStep("Stop", error_message=Join(["for", reason], on=" "))]))
    ws.rules.create("on-drift", ALARM, [{"type": "pipeline", "pipeline": "retrain", "input": {"Reason": "$.detail.alarmName"}}])
    ws.metadata.append_event("alarm/drift:1", "AlarmStateChange", {"alarmName": "drift", "state": {"value": "ALARM"}})
    assert ws.rules.tick() == 1
    assert ws.rules.tick() == 0
    (firing,) = ws.rules.history("on-drift")
    assert firing["state"] == "Succeeded"
    executions = ws.pipelines.executions("retrain")
    assert len(executions) == 1 and executions[0].parameters == {"Reason": "drift"}
    assert firing["outcome"]["result"] == {"execution": executions[0].ref}


def test_a_pipeline_target_is_checked_when_the_rule_is_made(ws: Any) -> None:
    with pytest.raises(ValidationError, match="pipeline target takes pipeline"):
        ws.rules.create("bad", ALARM, [{"type": "pipeline", "name": "retrain"}])


def test_parameters_of_the_wrong_name_fail_the_firing_with_the_reason(ws: Any) -> None:
    ws.pipelines.create(Pipeline("p2", parameters=[ParameterString("Reason", "x")], steps=[FailStep("Stop", error_message="stop")]))
    ws.rules.create("r2", ALARM, [{"type": "pipeline", "pipeline": "p2", "input": {"Nope": "$.detail.alarmName"}}])
    ws.metadata.append_event("alarm/a:1", "AlarmStateChange", {"alarmName": "a", "state": {"value": "ALARM"}})
    ws.rules.tick()
    (firing,) = ws.rules.history("r2")
    assert firing["state"] == "Failed" and "Nope" in str(firing["outcome"]) + str(firing.get("error"))
    assert ws.pipelines.executions("p2") == []
