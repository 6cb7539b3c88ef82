"""Event rules over real events: matching, targets, firings recorded once, a real webhook server."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from forgeml.core.records import ResourceRecord
from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError
from forgeml.rules import envelope, register_target_kind
from forgeml.rules._targets import KINDS

ALARM = {"source": ["forgeml.alarms"], "detail-type": ["CloudWatch Alarm State Change"],
         "detail": {"state": {"value": ["ALARM"]}}}  # fmt: skip


def _alarm_event(ws: Any, name: str, state: str) -> None:
    ws.metadata.append_event(f"alarm/{name}:1", "AlarmStateChange", {"alarmName": name, "state": {"value": state}})


def test_a_rule_fires_its_callable_once_per_matching_event(ws: Any) -> None:
    seen: list[Any] = []
    ws.rules.register_callable("collect", seen.append)
    _alarm_event(ws, "before", "ALARM")  # history: a new rule does not react to it
    rule = ws.rules.create("on-alarm", ALARM, [{"type": "callable", "name": "collect",
                                                "input": {"alarm": "$.detail.alarmName", "first": "$.resources[0]", "why": "drift", "gone": "$.detail.nope"}}])  # fmt: skip
    assert rule.status == "ENABLED" and rule.data["warnings"] == []
    _alarm_event(ws, "drift", "ALARM")
    _alarm_event(ws, "drift", "OK")  # does not match
    ws.metadata.append_event("dataset/x:1", "Created", {"status": "Ready"})
    assert ws.rules.tick() == 1
    assert ws.rules.tick() == 0  # nothing new; nothing again
    assert seen == [{"alarm": "drift", "first": "alarm/drift:1", "why": "drift", "gone": None}]
    firings = ws.rules.history("on-alarm")
    assert [(f["state"], f["target_type"]) for f in firings] == [("Succeeded", "callable")]
    assert firings[0]["outcome"]["event"]["detail"]["alarmName"] == "drift"


def test_disabled_rules_skip_and_enabling_does_not_replay(ws: Any) -> None:
    seen: list[Any] = []
    ws.rules.register_callable("collect", seen.append)
    ws.rules.create("r", ALARM, [{"type": "callable", "name": "collect"}])
    ws.rules.disable("r")
    _alarm_event(ws, "a", "ALARM")
    assert ws.rules.tick() == 0
    ws.rules.enable("r")
    assert ws.rules.tick() == 0 and seen == []
    _alarm_event(ws, "b", "ALARM")
    assert ws.rules.tick() == 1 and seen[0]["detail"]["alarmName"] == "b"  # no input: the whole event
    assert seen[0]["source"] == "forgeml.alarms" and seen[0]["version"] == "0"


def test_a_registered_target_kind_is_called_with_a_stable_key(ws: Any) -> None:
    calls: list[tuple[dict[str, Any], Any, str]] = []
    register_target_kind("pipeline-test", lambda w, target, payload, key: calls.append((target, payload, key)) or {"execution": key},
                         idempotent=True)  # fmt: skip
    try:
        ws.rules.create("retrain", ALARM, [{"type": "pipeline-test", "pipeline": "retrain",
                                            "input": {"alarm": "$.detail.alarmName"}}])  # fmt: skip
        _alarm_event(ws, "drift", "ALARM")
        ws.rules.tick()
        (target, payload, key), = calls
        assert target["pipeline"] == "retrain" and payload == {"alarm": "drift"}
        assert key.startswith("retrain-") and ws.rules.history("retrain")[0]["outcome"]["result"] == {"execution": key}
    finally:
        KINDS.pop("pipeline-test")


def test_a_failing_target_is_recorded_and_never_retried(ws: Any) -> None:
    def boom(payload: Any) -> None:
        raise RuntimeError("target down")

    ws.rules.register_callable("boom", boom)
    ws.rules.create("r", ALARM, [{"type": "callable", "name": "boom"}, {"type": "callable", "name": "missing"}])
    _alarm_event(ws, "a", "ALARM")
    ws.rules.tick()
    ws.rules.tick()
    states = sorted((f["target"], f["state"], f["outcome"]["error"]) for f in ws.rules.history("r"))
    assert states[0] == (0, "Failed", "RuntimeError: target down")
    assert states[1][1] == "Failed" and "not registered in this process" in states[1][2]
    assert len(states) == 2


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([], "1 to 5 targets"),
        ([{"type": "lambda"}], "unknown target type 'lambda'"),
        ([{"type": "webhook", "url": "http://evil.example/x"}], "not allowed"),
        ([{"type": "webhook", "url": "file:///etc/passwd"}], "http(s) URL"),
        ([{"type": "callable"}], "takes name"),
        ([{"type": "callable", "name": "x", "input": {"a": "$.detail..x"}}], "cannot read"),
    ],
)
def test_bad_targets(ws: Any, targets: list[Any], message: str) -> None:
    with pytest.raises(ValidationError, match="targets") as info:
        ws.rules.create("bad", ALARM, targets)
    assert message in str(info.value)


def test_definition_errors_and_warnings(ws: Any) -> None:
    with pytest.raises(ValidationError, match="unknown operator"):
        ws.rules.create("bad", {"source": [{"startswith": "x"}]}, [{"type": "callable", "name": "x"}])
    rule = ws.rules.create("never", {"source": ["aws.sagemaker"]}, [{"type": "callable", "name": "x"}])
    assert "no ForgeML source" in rule.data["warnings"][0]
    with pytest.raises(AlreadyExistsError):
        ws.rules.create("never", {"source": ["forgeml.x"]}, [{"type": "callable", "name": "x"}])
    ws.rules.delete("never")
    with pytest.raises(NotFoundError):
        ws.rules.get("never")


def test_callable_targets_are_sdk_only(ws: Any) -> None:
    from forgeml.core.access import Access

    net = ws.with_access(Access.network(ws.settings))
    with pytest.raises(ValidationError, match="only through the Python SDK"):
        net.rules.create("r", ALARM, [{"type": "callable", "name": "collect"}])


def test_test_pattern_on_a_stored_event(ws: Any) -> None:
    _alarm_event(ws, "drift", "ALARM")
    event_id = ws.metadata.list_events(limit=1, newest=True)[0].id
    out = ws.rules.test_pattern(ALARM, event_id)
    assert out["matches"] and out["event"]["resources"] == ["alarm/drift:1"]
    assert not ws.rules.test_pattern({"source": ["forgeml.data"]}, out["event"])["matches"]


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, Any], str | None]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((json.loads(body), self.headers.get("Idempotency-Key")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_target_posts_to_an_allowed_host(ws: Any, hook: str) -> None:
    ws.settings.allowed_webhook_hosts.append("127.0.0.1")
    try:
        ws.rules.create("hook", ALARM, [{"type": "webhook", "url": hook}])
        _alarm_event(ws, "drift", "ALARM")
        ws.rules.tick()
    finally:
        ws.settings.allowed_webhook_hosts.clear()
    (body, key), = _Hook.received
    assert body["detail"]["alarmName"] == "drift" and key and key.startswith("hook-")
    assert ws.rules.history("hook")[0]["outcome"]["result"] == {"status": 204}
    _alarm_event(ws, "again", "ALARM")  # the operator removed the host: not sent, recorded
    ws.rules.tick()
    assert len(_Hook.received) == 1 and "not allowed" in ws.rules.history("hook")[0]["outcome"]["error"]


@pytest.mark.parametrize(
    ("make", "source", "detail_type", "field", "value"),
    [
        (lambda ws: ws.metadata.append_event("model/loans:3", "ModelPackageStateChange", {"change": "approval", "from": "PendingManualApproval", "to": "Approved"}),
         "forgeml.registry", "SageMaker Model Package State Change", "ModelApprovalStatus", "Approved"),
        (lambda ws: ws.metadata.append_event("monitoring-execution/m:1", "MonitoringExecutionCompletedWithViolations", {"violations": 2}),
         "forgeml.monitoring", "Monitoring Execution Status Change", "MonitoringExecutionStatus", "CompletedWithViolations"),
        (lambda ws: ws.metadata.create_resource(ResourceRecord("dataset", "loans", 4, "Ready")),
         "forgeml.data", "Dataset Version Created", "DatasetVersion", 4),
        (lambda ws: ws.metadata.append_event("endpoint-deployment/ep:2", "StatusChanged", {"from": "Baking", "to": "RolledBack"}),
         "forgeml.serving", "SageMaker Endpoint Deployment State Change", "DeploymentStatus", "RolledBack"),
        (lambda ws: ws.metadata.append_event("job/train-1", "StatusChanged", {"from": "InProgress", "to": "Failed", "reason": "oom"}),
         "forgeml.jobs", "Job State Change", "JobStatus", "Failed"),
    ],
)  # fmt: skip
def test_envelopes_of_the_closed_loop_events(ws: Any, make: Any, source: str, detail_type: str, field: str, value: Any) -> None:
    make(ws)
    shaped = envelope(ws.metadata.list_events(limit=1, newest=True)[0])
    assert (shaped["source"], shaped["detail-type"], shaped["detail"][field]) == (source, detail_type, value)
    assert shaped["account"] == "000000000000" and shaped["time"].endswith("Z") and len(shaped["id"]) == 36


def test_the_cursor_waits_at_a_young_id_gap() -> None:
    from forgeml.core.records import EventRecord
    from forgeml.rules._service import _settled

    events = [EventRecord(1, 100.0, "a/x", "T"), EventRecord(2, 100.0, "a/x", "T"), EventRecord(4, 100.0, "a/x", "T")]
    assert [e.id for e in _settled(events, 0, now=101.0)] == [1, 2]  # id 3 may still commit
    assert [e.id for e in _settled(events, 0, now=200.0)] == [1, 2, 4]  # an old gap: rolled back
    assert [e.id for e in _settled(events[2:], 2, now=101.0)] == []


def test_rules_and_schedules_on_postgresql(postgres_url: str, tmp_path: Any) -> None:
    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    with Workspace(load_settings(home=str(tmp_path / "pg"), database_url=postgres_url)) as ws:
        seen: list[Any] = []
        ws.rules.register_callable("collect", seen.append)
        ws.rules.create("r", ALARM, [{"type": "callable", "name": "collect", "input": {"a": "$.detail.alarmName"}}])
        _alarm_event(ws, "pg", "ALARM")
        import time

        deadline = time.monotonic() + 30
        while not seen:  # a young id gap may hold the cursor for a moment
            assert time.monotonic() < deadline
            ws.rules.tick()
            time.sleep(0.1)
        assert ws.rules.tick() == 0 and seen == [{"a": "pg"}]
        anchor = ws.schedules.create("s", "rate(1 minute)", [{"type": "callable", "name": "collect"}]).data["anchor"]
        assert ws.schedules.tick(now=anchor + 61) == 1 and ws.schedules.tick(now=anchor + 62) == 0
        assert ws.rules.history("r")[0]["state"] == "Succeeded"


def test_rules_react_to_the_events_the_services_really_write(ws: Any, tmp_path: Any) -> None:
    from tests.evaluation.helpers import loans_frame, save_binary

    seen: dict[str, list[Any]] = {"alarm": [], "approved": [], "dataset": []}
    for key, items in seen.items():
        ws.rules.register_callable(key, items.append)
    ws.rules.create("alarm", ALARM, [{"type": "callable", "name": "alarm", "input": {"name": "$.detail.alarmName"}}])
    ws.rules.create("approved", {"source": ["forgeml.registry"], "detail": {"ModelApprovalStatus": ["Approved"]}},
                    [{"type": "callable", "name": "approved", "input": {"group": "$.detail.ModelPackageGroupName", "v": "$.detail.ModelPackageVersion"}}])  # fmt: skip
    ws.rules.create("dataset", {"detail-type": ["Dataset Version Created"], "detail": {"DatasetName": [{"prefix": "loans"}]}},
                    [{"type": "callable", "name": "dataset", "input": {"ref": "$.detail.DatasetRef"}}])  # fmt: skip
    ws.alarms.put({"name": "drift-income", "namespace": "forgeml/monitoring/data-metrics", "metric_name": "feature_baseline_drift_income",
                   "threshold": 0.1, "comparison_operator": "GreaterThanThreshold"})  # fmt: skip
    ws.alarms.set_state("drift-income", "ALARM", "drill")
    ws.alarms.set_state("drift-income", "OK", "drill over")
    frame = loans_frame(120, seed=2)
    ws.registry.register("loans", save_binary(tmp_path / "m", frame))
    ws.registry.approve("loans", 1)
    ws.datasets.create("loans-new", frame)
    ws.datasets.create("other", frame)
    ws.rules.tick()
    assert seen == {"alarm": [{"name": "drift-income"}], "approved": [{"group": "loans", "v": 1}], "dataset": [{"ref": "dataset/loans-new:1"}]}
