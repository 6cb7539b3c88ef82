"""Alarms over the real metrics store: statistics, M of N, missing data, history, events, webhooks."""

from __future__ import annotations

import pytest

from forgeml.alarms import Datapoint
from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, ValidationError

NS, DIMS = "test/app", {"EndpointName": "e1"}
T0 = 1_800_000_000.0  # a whole minute


def _alarm(ws: Workspace, **over: object) -> None:
    cfg = {"name": "high", "namespace": NS, "metric_name": "Latency", "dimensions": DIMS, "statistic": "Average",
           "period": 60, "evaluation_periods": 3, "datapoints_to_alarm": 2, "threshold": 100,
           "comparison_operator": "GreaterThanThreshold", **over}  # fmt: skip
    ws.alarms.put(cfg)


def _put(ws: Workspace, minute: int, *values: float, name: str = "Latency") -> None:
    ws.alarms.metrics.put([Datapoint.of(NS, name, DIMS, list(values), T0 + minute * 60 + 1)])


def test_statistics_per_period(ws: Workspace) -> None:
    _put(ws, 0, 1, 2, 3, 10)
    _put(ws, 0, 4)
    _put(ws, 2, 7)
    m = ws.alarms.metrics
    got = {s: m.statistics(NS, "Latency", DIMS, start=T0, end=T0 + 180, period=60, statistic=s) for s in
           ("SampleCount", "Sum", "Average", "Minimum", "Maximum", "p50", "p100")}  # fmt: skip
    assert [v for _, v in got["SampleCount"]] == [5, None, 1]
    assert [v for _, v in got["Sum"]] == [20, None, 7]
    assert [v for _, v in got["Average"]] == [4, None, 7]
    assert [v for _, v in got["Minimum"]] == [1, None, 7]
    assert [v for _, v in got["Maximum"]] == [10, None, 7]
    assert [v for _, v in got["p50"]] == [3, None, 7]  # nearest rank of 1 2 3 4 10
    assert [v for _, v in got["p100"]] == [10, None, 7]
    assert m.statistics(
        NS, "Latency", {"EndpointName": "other"}, start=T0, end=T0 + 60, period=60, statistic="Sum"
    ) == [(T0, None)]


def test_two_of_three_and_history_and_event(ws: Workspace) -> None:
    _alarm(ws)
    assert ws.alarms.get("high").status == "INSUFFICIENT_DATA"
    assert ws.alarms.get("high").data["reason"] == "Unchecked: Initial alarm creation"
    _put(ws, 0, 50)
    assert [r.status for r in ws.alarms.evaluate(now=T0 + 60)] == ["OK"]
    _put(ws, 1, 150)
    assert ws.alarms.evaluate(now=T0 + 120) == []  # 1 of 2 real points: still OK
    _put(ws, 2, 120, 200)
    changed = ws.alarms.evaluate(now=T0 + 180)
    assert [r.status for r in changed] == ["ALARM"]
    reason = changed[0].data["reason"]
    assert reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [160 (")
    assert "greater than the threshold (100.0) (minimum 2 datapoint(s)" in reason
    events = [e for e in ws.alarms.history("high") if e.type == "AlarmStateChange"]
    assert [(e.data["previousState"]["value"], e.data["state"]["value"]) for e in events] == [
        ("INSUFFICIENT_DATA", "OK"), ("OK", "ALARM")]  # fmt: skip
    assert events[-1].data["state"]["reasonData"]["recentDatapoints"] == [50.0, 150.0, 160.0]


def test_missing_data_treatments_on_real_series(ws: Workspace) -> None:
    """`- - X - -` with N = 3, M = 3 (reference table row 5), at one evaluation time."""
    for treat, _expected in (
        ("missing", "ALARM"),
        ("ignore", "INSUFFICIENT_DATA"),
        ("breaching", "ALARM"),
        ("notBreaching", "OK"),
    ):
        _alarm(ws, name=f"a-{treat.lower()}", datapoints_to_alarm=3, treat_missing_data=treat)
    _put(ws, 2, 500)
    ws.alarms.evaluate(now=T0 + 300)
    states = {r.name: r.status for r in ws.alarms.list()}
    assert states == {
        "a-missing": "ALARM",
        "a-ignore": "INSUFFICIENT_DATA",
        "a-breaching": "ALARM",
        "a-notbreaching": "OK",
    }


def test_update_keeps_state_and_set_state(ws: Workspace) -> None:
    _alarm(ws)
    ws.alarms.set_state("high", "ALARM", "drill")
    _alarm(ws, threshold=5)
    record = ws.alarms.get("high")
    assert record.status == "ALARM" and record.data["config"]["threshold"] == 5
    assert [r.name for r in ws.alarms.list(state="ALARM")] == ["high"]


@pytest.mark.parametrize(("over", "needle"), [
    ({"period": 45}, "period must be 10, 20, 30 or a multiple of 60"),
    ({"datapoints_to_alarm": 4}, "datapoints_to_alarm must be 1 to evaluation_periods (3)"),
    ({"comparison_operator": "Bigger"}, "unknown comparison_operator 'Bigger'"),
    ({"treat_missing_data": "zero"}, "unknown treat_missing_data 'zero'"),
    ({"statistic": "Median"}, "unknown statistic 'Median'"),
    ({"period": 3600, "evaluation_periods": 200}, "at most 604800 seconds"),
    ({"name": "bad name"}, "invalid alarm name"),
    ({"threshold": "high"}, "threshold"),
    ({"extra": 1}, "extra"),
])  # fmt: skip
def test_bad_configs_are_named(ws: Workspace, over: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match="alarm config") as info:
        _alarm(ws, **over)
    assert needle in info.value.message and "\n" not in info.value.message
    assert ws.alarms.list() == []


def test_webhook_host_must_be_allowed(ws: Workspace) -> None:
    with pytest.raises(ValidationError, match=r"not allowed.*FORGEML_ALARM_WEBHOOK_ALLOWED_HOSTS"):
        _alarm(ws, webhook_url="http://127.0.0.1:9/hook")
    with pytest.raises(NotFoundError, match="alarm 'nope' does not exist"):
        ws.alarms.evaluate(["nope"])
