"""The ``forgeml server`` invocation proxy against calling the endpoint directly, side by side.

Targets (same endpoint, same one-row JSON request, same load generator):

* ``direct``: ``POST http://127.0.0.1:<endpoint port>/invocations``;
* ``proxy``: ``POST /endpoints/<name>/invocations`` on ``forgeml server`` (pooled keep-alive
  client, as shipped);
* ``proxy-unpooled``: the same server with the proxy's pool forced to open a connection per
  request;
* ``proxy-before`` (with ``--baseline-src DIR``, e.g. ``/work/main/src`` of an older checkout):
  ``forgeml server``'s app from that source tree, serving the same workspace (before the fix:
  FastAPI route, httpx ``AsyncClient`` without keep-alive).

Besides requests per second, the CPU time each server process spent per request is recorded
(``/proc/PID/stat``): the view that other work on the machine does not move.

Load: an asyncio load generator in this process: ``--concurrency`` keep-alive connections, each
sending the next request as soon as the last answer is read (closed loop), raw HTTP/1.1 on
sockets so that the generator costs far less per request than the servers under test. Rounds
are interleaved (the order rotates every round) so that noise from other work on the machine hits
every target alike; the ratios come from the same rounds.

Run: ``.venv/bin/python benchmarks/bench_proxy.py [--seconds 5] [--rounds 3] [--concurrency 64]``.
Writes ``benchmarks/results/proxy.json``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "proxy.json"
BODY = b"[[0.5, 3]]"
SERVER = """
import sys, uvicorn
from forgeml.api import endpoints
from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
if sys.argv[2] == "unpooled":  # (the fixed code only)
    class _Unpooled(endpoints._Proxy):
        def __init__(self, pooled: bool = False) -> None:
            super().__init__(pooled=False)
    endpoints._Proxy = _Unpooled
uvicorn.run(create_app(Workspace()), host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _connection(host: str, port: int, request: bytes, stop: float, latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            status = int(head[9:12])
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _load(port: int, path: str, seconds: float, concurrency: int) -> dict[str, Any]:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    stop = start + seconds
    await asyncio.gather(*(_connection("127.0.0.1", port, request, stop, latencies, errors) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies), "errors": len(errors), "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2) if latencies else None,
    }  # fmt: skip


def _wait_http(port: int, path: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(f"http://127.0.0.1:{port}{path}", content=BODY, headers={"Content-Type": "application/json"}).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="endpoint worker processes")
    parser.add_argument("--baseline-src", type=Path, default=None, help="src folder of the code to compare with")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="forgeml-bench-proxy-"))
    os.environ["FORGEML_HOME"] = str(home)
    sys.path.insert(0, str(ROOT))
    from tests.serving.conftest import tree_package

    from forgeml.core.workspace import Workspace

    ws = Workspace()
    package = tree_package(home / "tree")
    record = ws.endpoints.deploy("bench", str(package), workers=args.workers)
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        modes = ["pooled", "unpooled"] + (["before"] if args.baseline_src else [])
        for mode in modes:
            port = _free_port()
            env = os.environ.copy()
            if mode == "before":
                env["PYTHONPATH"] = str(args.baseline_src.resolve())
            proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), mode], env=env)
            servers[mode] = (proc, port)
        targets = {
            "direct": (int(record.data["port"]), "/invocations"),
            "proxy": (servers["pooled"][1], "/endpoints/bench/invocations"),
            "proxy-unpooled": (servers["unpooled"][1], "/endpoints/bench/invocations"),
        }
        if args.baseline_src:
            targets["proxy-before"] = (servers["before"][1], "/endpoints/bench/invocations")
        pids = {"endpoint": int(record.data["pid"]), **{f"server-{m}": servers[m][0].pid for m in modes}}
        for port, path in targets.values():
            _wait_http(port, path)
        rounds: list[dict[str, Any]] = []
        names = list(targets)
        load_before = os.getloadavg()
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            row: dict[str, Any] = {"order": order}
            for name in order:
                asyncio.run(_load(*targets[name], 0.5, args.concurrency))  # warm the pools
                cpu0 = {k: _cpu(pid) for k, pid in pids.items()}
                row[name] = asyncio.run(_load(*targets[name], args.seconds, args.concurrency))
                n = max(1, row[name]["requests"])
                row[name]["cpu_us_per_request"] = {
                    k: round(1e6 * (_cpu(pid) - cpu0[k]) / n, 1) for k, pid in pids.items() if _cpu(pid) - cpu0[k] > 0.05
                }  # fmt: skip
                print(f"round {r + 1} {name:15s} {row[name]}", flush=True)
            row["proxy_over_direct"] = round(row["proxy"]["rps"] / row["direct"]["rps"], 3)
            row["unpooled_over_direct"] = round(row["proxy-unpooled"]["rps"] / row["direct"]["rps"], 3)
            if "proxy-before" in row:
                row["before_over_direct"] = round(row["proxy-before"]["rps"] / row["direct"]["rps"], 3)
            rounds.append(row)
        load_after = os.getloadavg()
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        ws.endpoints.delete("bench")

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in rounds), 3)

    result = {
        "benchmark": "forgeml server invocation proxy vs direct endpoint calls",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "versions": {p: metadata.version(p) for p in ("uvicorn", "httpx", "fastapi", "starlette", "httptools") if _has(p)},
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in load_after]},
        "settings": {"seconds": args.seconds, "rounds": args.rounds, "concurrency": args.concurrency, "endpoint_workers": args.workers,
                     "request": BODY.decode(), "model": "DecisionTreeRegressor, 2 inputs (tests/serving/conftest.py)"},
        "rounds": rounds,
        "median_ratio": {k: median(k) for k in ("proxy_over_direct", "unpooled_over_direct", "before_over_direct") if k in rounds[0]},
        "median_rps": {n: round(statistics.median(r[n]["rps"] for r in rounds), 1) for n in names},
        "goal": "proxy >= 0.7x direct at c=64",
    }  # fmt: skip
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median_ratio"]), json.dumps(result["median_rps"]))


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _has(package: str) -> bool:
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    main()
