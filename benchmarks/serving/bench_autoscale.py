"""Autoscaling under a load step: 1 client, then 32; how long until the target is met, and failures.

A real endpoint (logistic regression, single-row CSV requests) with a scalable target
[1, MAX_WORKERS] and a target-tracking policy on ``SageMakerVariantInvocationsPerInstance``; the
scaling loop runs in this process every second (``forgeml server`` runs the same loop). Load: keep-alive
httpx clients in threads, 1 for ``--warm`` seconds, then 32 for ``--seconds``. Recorded: the time
from the step until the variant reached the capacity the policy asks for (``target met``: the
metric at or below the target, or MaxCapacity), every scaling activity, requests and failed
requests (goal 0), and throughput before and after.

Run: ``.venv/bin/python benchmarks/serving/bench_autoscale.py [--seconds 25]``. Writes
``benchmarks/results/autoscale.json``. The machine is shared with other work while it runs: the
times say what this machine did then, not what it can do alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "autoscale.json"
ROW = b"0.5,3,red\n"
MAX_WORKERS = 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm", type=float, default=6.0)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--target", type=float, default=9000.0, help="invocations per minute per instance")
    args = parser.parse_args()

    from tests.serving.conftest import logistic_package

    from forgeml.core.workspace import Workspace
    from forgeml.serving._capacity import instance_counts
    from forgeml.serving._scaling_loop import ScalingLoop
    from forgeml.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="bench-autoscale-"))
    ws = Workspace(load_settings(home=str(work / "ws"), metrics_publish_seconds=1.0))
    ws.endpoints.deploy("auto", str(logistic_package(work / "pkg")))
    rid = "endpoint/auto/variant/AllTraffic"
    ws.scaling.register_target({"resource_id": rid, "min_capacity": 1, "max_capacity": MAX_WORKERS})
    ws.scaling.put_policy({"name": "ipi", "resource_id": rid, "policy_type": "TargetTrackingScaling", "target_tracking": {
        "metric": "SageMakerVariantInvocationsPerInstance", "target_value": args.target, "metric_period_seconds": 5,
        "scale_in_cooldown": 300, "scale_out_cooldown": 3}})  # fmt: skip
    url = ws.endpoints.get("auto").data["url"]
    outcomes: Counter[str] = Counter()
    done_at: list[tuple[float, int]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=30.0) as http:
            while not stop.is_set():
                try:
                    r = http.post(f"{url}/invocations", content=ROW, headers={"Content-Type": "text/csv"})
                    key = "ok" if r.status_code == 200 else f"http {r.status_code}"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                with lock:
                    outcomes[key] += 1
                    done_at.append((time.monotonic(), 1))

    loop = ScalingLoop(ws, interval=1.0).start()
    threads = [threading.Thread(target=client)]
    threads[0].start()
    time.sleep(args.warm)
    step, step_epoch = time.monotonic(), time.time()
    before = sum(1 for t, _ in done_at if step - 5 <= t < step) / 5
    for _ in range(31):
        threads.append(threading.Thread(target=client))
        threads[-1].start()
    capacity_at: list[tuple[float, int]] = []
    while time.monotonic() - step < args.seconds:
        capacity_at.append((time.monotonic() - step, instance_counts(ws.endpoints.get("auto"))["AllTraffic"]))
        time.sleep(0.25)
    stop.set()
    for t in threads:
        t.join()
    loop.stop()
    end = time.monotonic()
    after = sum(1 for t, _ in done_at if end - 5 <= t < end) / 5
    acts = [a.to_dict() for a in reversed(ws.scaling.activities(rid))]
    final = capacity_at[-1][1]
    reached = next((t for t, c in capacity_at if c == final), None)
    ws.endpoints.delete("auto")
    ws.close()
    result = {
        "benchmark": "autoscale load step 1 -> 32 clients", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "note": "shared with other engineers' work while it ran"},
        "policy": {"metric": "SageMakerVariantInvocationsPerInstance", "target_per_minute": args.target, "period_s": 5,
                   "scale_out_cooldown_s": 3, "loop_interval_s": 1.0, "max_capacity": MAX_WORKERS},
        "requests": sum(outcomes.values()), "failed_requests": sum(v for k, v in outcomes.items() if k != "ok"),
        "outcomes": dict(outcomes), "rps_before_step": round(before, 1), "rps_at_end": round(after, 1),
        "final_capacity": final, "seconds_until_final_capacity": None if reached is None else round(reached, 2),
        "activities": [{k: a[k] for k in ("FromCapacity", "ToCapacity", "StatusCode", "Cause")} | {"at_s": round(a["StartTime"] - step_epoch, 2)} for a in acts],
    }  # fmt: skip
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
