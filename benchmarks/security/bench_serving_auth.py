"""Serving throughput with authentication, policy evaluation and audit on vs off, side by side.

Targets (same model, same one-row JSON request, same closed-loop load generator as
``benchmarks/bench_proxy.py``, concurrency 32):

* ``endpoint-open`` / ``endpoint-auth``: an endpoint server's own port with security off, and
  a second endpoint of the same config with security on, called with an API key (the worker
  authenticates it, cached after the first scrypt check, evaluates ``endpoints:Invoke`` and
  appends an audit record per request);
* ``server-open`` / ``server-auth``: ``POST /endpoints/NAME/invocations`` on ``forgeml server``
  with security off, and a second server process with it on (the same checks in the REST
  dependency; the endpoint behind it is reached with the proxy token).

Also: policy evaluation per request in microseconds (``identity_policies`` + ``evaluate`` for an
MLOps principal in one group, and ``evaluate`` alone over already-parsed statements).

Run: ``.venv/bin/python benchmarks/security/bench_serving_auth.py [--seconds 4] [--rounds 2]``.
Writes ``benchmarks/results/serving_auth.json``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "serving_auth.json"
BODY = b"[[0.5, 3]]"


async def _load(port: int, path: str, headers: str, seconds: float, concurrency: int) -> dict[str, Any]:
    from bench_proxy import _connection

    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{headers}"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    await asyncio.gather(*(_connection("127.0.0.1", port, request, start + seconds, latencies, errors) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(latencies), "errors": len(errors), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None}  # fmt: skip


def _policy_us(ws: Any, name: str, n: int = 20_000) -> dict[str, float]:
    from forgeml.security import PrincipalStore, evaluate
    from forgeml.security._roles import identity_policies

    principal = PrincipalStore(ws).get_principal(name)
    t0 = time.perf_counter()
    for _ in range(n // 10):
        identity_policies(ws, principal)
    with_lookup = (time.perf_counter() - t0) / (n // 10)
    named = identity_policies(ws, principal)
    t0 = time.perf_counter()
    for _ in range(n):
        evaluate(named, "endpoints:Invoke", "endpoint/bench-auth", {"forgeml:SourceIp": "127.0.0.1"})
    alone = (time.perf_counter() - t0) / n
    return {"evaluate_us": round(alone * 1e6, 2), "lookup_and_evaluate_us": round((with_lookup + alone) * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="forgeml-bench-auth-"))
    os.environ["FORGEML_HOME"] = str(home)
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    from bench_proxy import SERVER, _free_port, _wait_http
    from tests.serving.conftest import tree_package

    from forgeml.core.workspace import Workspace
    from forgeml.security import PrincipalStore
    from forgeml.security._roles import RoleStore

    ws = Workspace()
    secure = Workspace(ws.settings.model_copy(update={"security_enabled": True}))
    store = PrincipalStore(secure)
    store.create_principal("bench", policies=["DataScientist"])
    RoleStore(secure).create_group("ops", ["MLOps"])
    RoleStore(secure).add_member("ops", "bench")
    key = store.create_key("bench").credential
    auth = f"Authorization: Bearer {key}\r\n"
    package = tree_package(home / "tree")
    open_ep = ws.endpoints.deploy("bench-open", str(package))
    auth_ep = secure.endpoints.deploy("bench-auth", str(package))
    servers = {}
    try:
        for mode, flag in (("open", "false"), ("auth", "true")):
            port = _free_port()
            env = {**os.environ, "FORGEML_SECURITY_ENABLED": flag}
            servers[mode] = (subprocess.Popen([sys.executable, "-c", SERVER, str(port), "pooled"], env=env), port)
        targets = {
            "endpoint-open": (int(open_ep.data["port"]), "/invocations", ""),
            "endpoint-auth": (int(auth_ep.data["port"]), "/invocations", auth),
            "server-open": (servers["open"][1], "/endpoints/bench-open/invocations", ""),
            "server-auth": (servers["auth"][1], "/endpoints/bench-open/invocations", auth),
        }
        _wait_http(servers["open"][1], "/endpoints/bench-open/invocations")
        time.sleep(2.0)  # the secured server starts alike
        rounds = []
        for r in range(args.rounds):
            names = list(targets)
            order = names[r % len(names):] + names[: r % len(names)]
            row: dict[str, Any] = {"order": order}
            for name in order:
                asyncio.run(_load(*targets[name], 0.5, args.concurrency))
                row[name] = asyncio.run(_load(*targets[name], args.seconds, args.concurrency))
                print(f"round {r + 1} {name:14s} {row[name]}", flush=True)
            row["endpoint_auth_over_open"] = round(row["endpoint-auth"]["rps"] / row["endpoint-open"]["rps"], 3)
            row["server_auth_over_open"] = round(row["server-auth"]["rps"] / row["server-open"]["rps"], 3)
            rounds.append(row)
        policy = _policy_us(secure, "bench")
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
        ws.endpoints.delete("bench-open")
        secure.endpoints.delete("bench-auth")
    result = {
        "benchmark": "serving throughput with authentication + policy + audit on vs off",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": [round(v, 2) for v in os.getloadavg()]},
        "settings": {"seconds": args.seconds, "rounds": args.rounds, "concurrency": args.concurrency,
                     "audit_store": "SQLite (embedded)", "api_key_cache_seconds": ws.settings.api_key_cache_seconds},
        "rounds": rounds,
        "median_rps": {n: round(statistics.median(r[n]["rps"] for r in rounds), 1) for n in targets},
        "median_ratio": {k: round(statistics.median(r[k] for r in rounds), 3) for k in ("endpoint_auth_over_open", "server_auth_over_open")},
        "policy": policy,
        "goal": "auth on >= 0.9x auth off at c=32",
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median_ratio"]), json.dumps(result["median_rps"]), json.dumps(policy))
    ws.close()
    secure.close()


if __name__ == "__main__":
    main()
