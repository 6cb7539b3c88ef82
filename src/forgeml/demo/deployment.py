"""Demo stage ``deployment``: change the live model safely, and shadow-test a candidate.

Runs after ``serving`` (endpoint ``loans`` is InService on ``state["model_version"]``). Registers
a second model version (another trial of the tuning job, so a different model), deploys it by
canary with a short bake and an alarm drill (a real metric datapoint pushes the drill alarm into
ALARM during the bake, so all traffic returns to the old version), then deploys it cleanly
guarded by the endpoint's real 5xx alarm. Last, a short shadow test copies live requests to a
third candidate and prints the comparison report, then discards the shadow. Sets
``state["summary"]["deployment"]``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

ENDPOINT = "loans"
DRILL = "loans-canary-drill"
ERRORS_5XX = "loans-5xx"


def _canary(bake: int, alarms: list[str]) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
            "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}, "WaitIntervalInSeconds": bake}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]},
    }  # fmt: skip


def _candidates(ws: Any, state: dict[str, Any]) -> list[str]:
    """Completed training jobs other than the best one (the tuning job's other trials)."""
    best = state.get("best_training_job")
    jobs = [j for j in ws.training.list(status=["Completed"]) if j.name != best]
    return [j.name for j in sorted(jobs, key=lambda j: j.name)]


def _register(ws: Any, state: dict[str, Any], job: str | None, note: str) -> Any:
    from forgeml.demo.serving import GROUP

    if job is not None:
        record = ws.registry.register(GROUP, training_job=job, metadata={"demo": True, "note": note}, by="forgeml-demo")
    else:  # no other trial: the same package again, as a new version
        record = ws.registry.register(GROUP, state["model_dir"], metadata={"demo": True, "note": note}, by="forgeml-demo")
    return ws.registry.approve(GROUP, record.version, by="forgeml-demo", reason=f"demo: {note}")


def _alarms(ws: Any) -> None:
    base = {"statistic": "Sum", "period": 10, "threshold": 0, "comparison_operator": "GreaterThanThreshold",
            "treat_missing_data": "notBreaching"}  # fmt: skip
    ws.alarms.put({**base, "name": DRILL, "namespace": "ForgeML/Demo", "metric_name": "CanaryDrillErrors",
                   "dimensions": {"EndpointName": ENDPOINT}})  # fmt: skip
    ws.alarms.put({**base, "name": ERRORS_5XX, "namespace": "AWS/SageMaker", "metric_name": "Invocation5XXErrors",
                   "dimensions": {"EndpointName": ENDPOINT, "VariantName": "AllTraffic"}})  # fmt: skip


def _drill(ws: Any, stop: threading.Event) -> None:
    """Once the canary bakes, report one error on the drill metric (what a failing check would do)."""
    from forgeml.alarms import Datapoint
    from forgeml.errors import NotFoundError

    while not stop.is_set():
        try:
            if ws.endpoints.deployment(ENDPOINT).status == "Baking":
                ws.alarms.metrics.put([Datapoint.of("ForgeML/Demo", "CanaryDrillErrors", {"EndpointName": ENDPOINT}, [1.0])])
                return
        except NotFoundError:
            pass
        time.sleep(0.05)


def _config(ws: Any, model: str) -> dict[str, Any]:
    spec = dict(ws.endpoints.get(ENDPOINT).spec)
    spec["variants"] = [{**v, "model": model} for v in spec["variants"]]
    return spec


def _traffic(ws: Any, state: dict[str, Any], requests: int, rows: int) -> int:
    """Send ``requests`` CSV requests of ``rows`` test rows each; returns how many were sent."""
    from forgeml.registry.package import read_manifest

    model = ws.endpoints.get(ENDPOINT).spec["variants"][0]["model"]
    columns = read_manifest(ws.registry.download(model)).feature_names
    test = state["test"]
    lines = ws.datasets.read(test.name, test.version)[columns].head(requests * rows).to_csv(header=False, index=False).splitlines()
    sent = 0
    for i in range(0, len(lines), rows):
        ws.endpoints.invoke(ENDPOINT, "\n".join(lines[i : i + rows]) + "\n", content_type="text/csv")
        sent += 1
    return sent


def stage(ws: Any, state: dict[str, Any], say: Any) -> None:
    from forgeml.demo.serving import GROUP

    others = _candidates(ws, state)
    second = _register(ws, state, others[0] if others else None, "second version, deployed by canary")
    new = f"{GROUP}:{second.version}"
    _alarms(ws)

    # 1. canary with an alarm drill during the bake: rolled back
    stop = threading.Event()
    drill = threading.Thread(target=_drill, args=(ws, stop), daemon=True)
    drill.start()
    try:
        t0 = time.perf_counter()
        rolled = ws.endpoints.update(ENDPOINT, _config(ws, new), deployment_config=_canary(30, [DRILL, ERRORS_5XX]))
    finally:
        stop.set()
        drill.join()
    last = rolled.data.get("last_deployment") or {}
    say(f"canary of [bold]{new}[/bold]: {last.get('status')} in {time.perf_counter() - t0:.1f}s, endpoint back on version "
        f"{rolled.version} ({last.get('reason', '').split(':')[0]})")  # fmt: skip

    # 2. the same version again, cleanly, guarded by the endpoint's real 5xx alarm
    t1 = time.perf_counter()
    clean = ws.endpoints.update(ENDPOINT, _config(ws, new), deployment_config=_canary(1, [ERRORS_5XX]))
    dep = ws.endpoints.deployment(ENDPOINT)
    steps = [s["step"] for s in dep.data["steps"]]
    say(f"canary of [bold]{new}[/bold] again: {dep.status} in {time.perf_counter() - t1:.1f}s, endpoint version {clean.version} "
        f"InService; steps: {', '.join(steps)}")  # fmt: skip

    # 3. a short shadow test of a third candidate on live traffic, then discard it
    third = _register(ws, state, others[1] if len(others) > 1 else None, "candidate, shadow-tested")
    name = f"loans-shadow-{time.strftime('%m%d-%H%M%S')}"
    t2 = time.perf_counter()
    ws.shadow_tests.create(name, ENDPOINT, f"{GROUP}:{third.version}", sampling_percentage=100, duration_seconds=300)
    sent = _traffic(ws, state, 10, 4)
    deadline = time.monotonic() + 5
    while ws.shadow_tests.report(name)["requests"] < sent and time.monotonic() < deadline:
        time.sleep(0.1)  # the shadow's copies run after each caller got its answer
    record = ws.shadow_tests.stop(name)
    report = record.data["report"]
    p, s = report["production"], report["shadow"]
    agreement = (report.get("agreement") or {}).get("rate")
    say(f"shadow test [bold]{name}[/bold] ({GROUP}:{third.version} behind {new}): {report['requests']} copied request(s) ({report['compared_rows']} rows) in "
        f"{time.perf_counter() - t2:.1f}s; p50/p99 latency {p['latency_ms']['p50']:.2f}/{p['latency_ms']['p99']:.2f} ms production, "
        f"{s['latency_ms']['p50']:.2f}/{s['latency_ms']['p99']:.2f} ms shadow; errors {p['errors']}/{s['errors']}; "
        f"label agreement {'-' if agreement is None else f'{agreement:.1%}'}; shadow discarded ({record.status})")  # fmt: skip
    state["summary"]["deployment"] = {
        "canary_rolled_back": {"model": new, "status": last.get("status"), "reason": last.get("reason"), "endpoint_version": rolled.version},
        "canary_completed": {"model": new, "status": dep.status, "endpoint_version": clean.version, "steps": steps},
        "shadow_test": {"name": name, "shadow_model": f"{GROUP}:{third.version}", "status": record.status,
                        "requests": report["requests"], "rows": report["compared_rows"], "production_errors": p["errors"], "shadow_errors": s["errors"],
                        "production_p50_ms": p["latency_ms"]["p50"], "shadow_p50_ms": s["latency_ms"]["p50"],
                        "agreement": agreement},
    }  # fmt: skip
