"""Real-time endpoint throughput and latency, side by side on loopback.

Servers (same 20-feature gradient-boosted classifier, same single-row JSON request, same load
generator, same number of worker processes):

* ``noop``: a FastAPI app on uvicorn that answers a fixed prediction (the HTTP floor);
* ``mlflow``: ``mlflow models serve`` of the same model (full ``mlflow``, installed on first run
  into a separate venv, ``benchmarks/.work/mlflow-venv``; with ``--no-mlflow`` or when it cannot
  be installed, the reference numbers from the issue are used and the results say so);
* ``forgeml-onnx``: a ForgeML endpoint of the package compiled to ONNX, data capture at 100 %
  and Prometheus metrics on;
* ``forgeml-sklearn``: the same endpoint over the scikit-learn package (no compilation).

Load: ``wrk`` (C, ``apt-get install -y wrk``) with a Lua script for the POST body, at concurrency 1 and 32, in
interleaved rounds so that noise from other work on the machine hits every server alike.

Run: ``.venv/bin/python benchmarks/serving/endpoint_bench.py [--seconds 8] [--rounds 2]``.
Writes ``benchmarks/results/serving.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "benchmarks" / ".work" / "serving"
RESULTS = ROOT / "benchmarks" / "results" / "serving.json"
MLFLOW_VENV = ROOT / "benchmarks" / ".work" / "mlflow-venv"
WORKERS = 2
FEATURES = [f"f{i}" for i in range(20)]
ROW = [round(float(v), 4) for v in np.linspace(-1.5, 1.5, 20)]
BODY = json.dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW]}})
REFERENCE = {"mlflow": {"c1_rps": 280.0, "c32_rps": [144.0, 301.0], "c32_p99_ms": 300.0}, "noop_c32_rps": [4000.0, 4700.0]}

NOOP_APP = '''
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()
ANSWER = b'{"predictions":[{"predicted_label":1,"probability":0.9,"score":0.9}]}'


@app.post("/invocations")
async def invocations(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


@app.get("/ping")
async def ping() -> dict:
    return {"status": "Healthy"}
'''

NOOP_SERVER = '''
import sys
import uvicorn
from uvicorn.supervisors import Multiprocess
from forgeml.serving._serve import bind

if __name__ == "__main__":
    sock = bind("127.0.0.1", int(sys.argv[1]))
    config = uvicorn.Config("noop_app:app", workers=int(sys.argv[2]), access_log=False, log_level="warning")
    if config.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
'''

MLFLOW_TRAIN = '''
import sys
import numpy as np
import pandas as pd
import mlflow.sklearn
from sklearn.ensemble import HistGradientBoostingClassifier

data = np.load(sys.argv[1])
X = pd.DataFrame(data["X"], columns=[f"f{i}" for i in range(20)])
model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X, data["y"])
mlflow.sklearn.save_model(
    model, sys.argv[2], input_example=X.head(2),
    skops_trusted_types=["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
)
'''


def ensure_mlflow_venv(notes: list[str]) -> bool:
    """Full ``mlflow`` (with its server) lives in its own venv so that .venv is not disturbed."""
    if (MLFLOW_VENV / "bin" / "mlflow").exists():
        return True
    print(f"installing mlflow into {MLFLOW_VENV} (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run([str(MLFLOW_VENV / "bin" / "pip"), "install", "-q", "mlflow", "scikit-learn"], check=True, timeout=1200)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        notes.append(f"mlflow could not be installed ({exc}); reference numbers used")
        return False
    return True


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_models() -> dict[str, Path]:
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    from forgeml.registry._compile import compile_package
    from forgeml.registry.package import save_model

    X, y = make_classification(n_samples=5000, n_features=20, n_informative=10, random_state=0)
    np.savez(WORK / "data.npz", X=X, y=y)
    frame = pd.DataFrame(X, columns=FEATURES)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(frame, y)
    sk, onnx = WORK / "pkg-sklearn", WORK / "pkg-onnx"
    save_model(model, sk, task="binary", inputs=[{"name": c, "type": "float64"} for c in FEATURES], classes=[0, 1])
    compile_package(sk, onnx, frame.iloc[:500])
    return {"sklearn": sk, "onnx": onnx}


def wait_ping(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer /ping")


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=WORK)


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


_TICK = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User plus system CPU of every live process in process group ``pgid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def wrk(url: str, connections: int, seconds: int, pgid: int | None = None) -> dict[str, Any]:
    script = WORK / "post.lua"
    cpu0 = group_cpu_seconds(pgid) if pgid else 0.0
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), f"{url}/invocations"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result: dict[str, Any] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        result[f"p{pct}_ms"] = round(_ms(m.group(1)), 3) if m else None
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    result["non_2xx"] = int(bad.group(1)) if bad else 0
    result["socket_errors"] = errors.group(1).strip() if errors else None
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if pgid:
        result["server_cpu_us_per_request"] = round((group_cpu_seconds(pgid) - cpu0) / max(result["requests"], 1) * 1e6, 1)
    return result


def check_answer(name: str, url: str) -> None:
    r = httpx.post(f"{url}/invocations", content=BODY, headers={"Content-Type": "application/json"}, timeout=30)
    if r.status_code != 200 or "predictions" not in r.text:
        raise RuntimeError(f"{name} answered {r.status_code}: {r.text[:200]}")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("forgeml", "fastapi", "uvicorn", "httptools", "uvloop", "scikit-learn", "onnxruntime", "prometheus-client"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    if (MLFLOW_VENV / "bin" / "python").exists():
        out["mlflow (bench venv)"] = subprocess.run(
            [str(MLFLOW_VENV / "bin" / "python"), "-c", "import mlflow, uvicorn; print(mlflow.__version__, 'uvicorn', uvicorn.__version__)"],
            capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    out["wrk"] = (wrk_version.stdout or wrk_version.stderr).split("\n")[0]
    return out


def machine() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu": cpu, "platform": platform.platform(), "load_average_at_start": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (order alternates)")
    parser.add_argument("--no-mlflow", action="store_true", help="skip mlflow models serve (use the reference numbers)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / "noop_app.py").write_text(textwrap.dedent(NOOP_APP))
    (WORK / "noop_server.py").write_text(textwrap.dedent(NOOP_SERVER))
    (WORK / "post.lua").write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n' f"wrk.body = {json.dumps(BODY)}\n"
    )
    started = machine()
    print("building the model and its ONNX compilation ...", flush=True)
    models = make_models()

    procs: list[subprocess.Popen[bytes]] = []
    urls: dict[str, str] = {}
    pgids: dict[str, int] = {}
    notes: list[str] = []
    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    ws = Workspace(load_settings(home=str(WORK / "ws")))
    try:
        port = free_port()
        procs.append(start([sys.executable, "noop_server.py", str(port), str(WORKERS)], {}, WORK / "noop.log"))
        urls["noop"] = f"http://127.0.0.1:{port}"
        pgids["noop"] = procs[-1].pid
        wait_ping(urls["noop"], procs[-1])
        if not args.no_mlflow and ensure_mlflow_venv(notes):
            py = str(MLFLOW_VENV / "bin" / "python")
            (WORK / "mlflow_train.py").write_text(textwrap.dedent(MLFLOW_TRAIN))
            subprocess.run([py, "mlflow_train.py", str(WORK / "data.npz"), str(WORK / "mlflow-model")], check=True, cwd=WORK, capture_output=True)
            port = free_port()
            procs.append(start(
                [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(WORK / "mlflow-model"), "-p", str(port),
                 "-h", "127.0.0.1", "-w", str(WORKERS), "--env-manager", "local"],
                {"PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}"}, WORK / "mlflow.log",
            ))  # fmt: skip
            urls["mlflow"] = f"http://127.0.0.1:{port}"
            pgids["mlflow"] = procs[-1].pid
            notes.append(
                "mlflow models serve runs 'uvicorn --workers N', whose listening socket has protocol 0, so asyncio does not set TCP_NODELAY and each response waits on Nagle plus delayed ACK (~40 ms at concurrency 1); the issue's reference of ~280 req/s at c=1 was presumably one worker. ForgeML endpoints and the no-op floor here create their socket with IPPROTO_TCP."
            )
            wait_ping(urls["mlflow"], procs[-1])
        elif args.no_mlflow:
            notes.append("mlflow serve not measured (--no-mlflow); reference numbers used")
        for flavor in ("onnx", "sklearn"):
            record = ws.endpoints.create(f"bench-{flavor}", {
                "variants": [{"name": "AllTraffic", "model": str(models[flavor]), "workers": WORKERS}],
                "data_capture": {"sampling_percentage": 100},
            })  # fmt: skip
            urls[f"forgeml-{flavor}"] = record.data["url"]
            pgids[f"forgeml-{flavor}"] = int(record.data["pid"])
        for name, url in urls.items():
            check_answer(name, url)
            wrk(url, 8, 1)  # warm up
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {n: {"c1": [], "c32": []} for n in urls}
        for rnd in range(args.rounds):
            order = list(urls) if rnd % 2 == 0 else list(reversed(urls))  # no server always goes first
            for conc in (1, 32):
                for name in order:
                    res = wrk(urls[name], conc, args.seconds, pgids[name])
                    runs[name][f"c{conc}"].append(res)
                    print(
                        f"round {rnd + 1} c={conc:>2} {name:<16} {res['rps']:>8.0f} req/s  p50 {res['p50_ms']} ms  "
                        f"p99 {res['p99_ms']} ms  cpu {res.get('server_cpu_us_per_request')} us/req  non-2xx {res['non_2xx']}",
                        flush=True,
                    )
        captured = sum(len(f.read_bytes().splitlines()) for f in (WORK / "ws" / "capture").rglob("*.jsonl"))
        metrics_text = httpx.get(f"{urls['forgeml-onnx']}/metrics").text
    finally:
        for name in ("bench-onnx", "bench-sklearn"):
            with contextlib.suppress(Exception):
                ws.endpoints.delete(name)
        for proc in procs:
            stop(proc)
        ws.close()

    def mean(name: str, conc: str, key: str) -> float | None:
        vals = [r[key] for r in runs[name][conc] if r[key] is not None]
        return round(sum(vals) / len(vals), 3) if vals else None

    keys = ("rps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_us_per_request")
    summary = {n: {c: {k: mean(n, c, k) for k in keys} for c in ("c1", "c32")} for n in runs}

    def paired(a: str, b: str, key: str) -> float:
        """Median over rounds of a/b, each round measured back to back (robust to machine noise)."""
        ratios = sorted(x[key] / y[key] for x, y in zip(runs[a]["c32"], runs[b]["c32"], strict=True) if y[key])
        mid = len(ratios) // 2
        return round(ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2, 3)

    ours = summary["forgeml-onnx"]
    noop = summary["noop"]
    if "mlflow" in summary:
        ml_src = "measured (median of per-round ratios)"
        rps_vs_ml, p99_vs_ml = paired("forgeml-onnx", "mlflow", "rps"), paired("forgeml-onnx", "mlflow", "p99_ms")
    else:
        ml_src = "reference numbers from the issue"
        rps_vs_ml = round(ours["c32"]["rps"] / max(REFERENCE["mlflow"]["c32_rps"]), 2)
        p99_vs_ml = round(ours["c32"]["p99_ms"] / REFERENCE["mlflow"]["c32_p99_ms"], 3)
    goals = {
        "throughput_vs_mlflow_c32": {"goal": ">= 10x", "ratio": rps_vs_ml, "mlflow": ml_src},
        "p99_vs_mlflow_c32": {"goal": "< 0.2x", "ratio": p99_vs_ml, "mlflow": ml_src},
        "throughput_vs_noop_c32": {"goal": ">= 0.7x", "ratio": paired("forgeml-onnx", "noop", "rps"),
                                   "mean_ratio": round(ours["c32"]["rps"] / noop["c32"]["rps"], 3),
                                   "server_cpu_per_request_ratio": paired("forgeml-onnx", "noop", "server_cpu_us_per_request")},
    }  # fmt: skip
    goals["throughput_vs_mlflow_c32"]["met"] = goals["throughput_vs_mlflow_c32"]["ratio"] >= 10
    goals["p99_vs_mlflow_c32"]["met"] = goals["p99_vs_mlflow_c32"]["ratio"] < 0.2
    goals["throughput_vs_noop_c32"]["met"] = goals["throughput_vs_noop_c32"]["ratio"] >= 0.7
    results = {
        "benchmark": "real-time endpoint: single-row JSON invocations on loopback",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {**started, "load_average_at_end": os.getloadavg()},
        "versions": versions(),
        "setup": {
            "model": "HistGradientBoostingClassifier(max_iter=100), 20 features, 5,000 training rows",
            "request": "one row as {'dataframe_split': {'columns': [...], 'data': [[...]]}} (accepted by every server)",
            "workers_per_server": WORKERS, "seconds_per_measurement": args.seconds, "rounds": args.rounds,
            "load_generator": "wrk -t1 -c1 and -t2 -c32, Lua script for the POST body, on the same machine",
            "forgeml": "data capture 100 % to JSON Lines, Prometheus metrics (multiprocess) on, micro-batching on",
            "noop": "FastAPI + uvicorn with the same socket setup as ForgeML endpoints (TCP_NODELAY), same workers",
        },
        "summary_mean_of_rounds": summary,
        "how_goals_are_judged": "ratios are medians over rounds of back-to-back measurements of the two servers, so "
        "that load from other work on the shared machine cancels out; server CPU per request is the noise-free view",
        "runs": runs,
        "goals": goals,
        "verdict": "pass" if all(g["met"] for g in goals.values()) else "fail",
        "reference_numbers_from_issue": REFERENCE,
        "capture_lines_written": captured,
        "metrics_sample": [line for line in metrics_text.splitlines() if line.startswith("forgeml_endpoint_invocations_total")],
        "notes": notes,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({"summary": summary, "goals": goals, "verdict": results["verdict"]}, indent=2))


if __name__ == "__main__":
    main()
