"""Training benchmark (issue 5): training-job launch overhead, side by side in one run.

Measured from just before ``ws.training.create(...)`` to:

1. ``python_floor``: a bare ``python -c`` child printing its first line (the floor of any launch);
2. ``script_first_line``: the first line of a script-mode ``train.py`` (goal: under 1 s);
   with ``supervisor_up`` (the job went InProgress) and ``worker_first_log`` on the way;
3. ``builtin_training``: a built-in XGBoost job entering its Training phase (channels downloaded).

Each is repeated; medians are reported. Writes ``benchmarks/results/training.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results" / "training.json"
REPEAT = int(os.environ.get("BENCH_REPEAT", "8"))
GOAL_S = 1.0
SCRIPT = "import time\nprint(f'first-line {time.time():.6f}', flush=True)\n"


def _summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"median_s": statistics.median(values), "min_s": values[0], "max_s": values[-1],
            "p90_s": values[min(len(values) - 1, int(0.9 * len(values)))], "n": len(values)}  # fmt: skip


def python_floor() -> list[float]:
    out = []
    for _ in range(REPEAT):
        t0 = time.time()
        line = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
        out.append(float(line.split()[1]) - t0)
    return out


def _first_line(ws: object, name: str, pattern: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in ws.training.logs(name):  # type: ignore[attr-defined]
            if pattern in line:
                return line
        time.sleep(0.005)
    raise TimeoutError(name)


def script_mode(ws: object, tmp: Path) -> dict[str, list[float]]:
    script = tmp / "train.py"
    script.write_text(SCRIPT)
    data = tmp / "data.csv"
    data.write_text("x,y\n1,0\n2,1\n")
    out: dict[str, list[float]] = {"script_first_line": [], "supervisor_up": [], "worker_first_log": []}
    for i in range(REPEAT):
        t0 = time.time()
        ws.training.create(f"launch-{i}", script=str(script), channels={"train": str(data)})  # type: ignore[attr-defined]
        line = _first_line(ws, f"launch-{i}", "first-line")
        out["script_first_line"].append(float(line.split()[1]) - t0)
        job = ws.training.wait(f"launch-{i}")  # type: ignore[attr-defined]
        out["supervisor_up"].append(job.started_at - t0)
        first = ws.training.record(f"launch-{i}").data["secondary_status_transitions"][0]["StartTime"]  # type: ignore[attr-defined]
        out["worker_first_log"].append(first - t0)
    return out


def builtin(ws: object) -> list[float]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(500, 5)), columns=list("abcde"))
    frame["y"] = (frame["a"] > 0).astype(int)
    ws.datasets.create("bench", frame)  # type: ignore[attr-defined]
    out = []
    for i in range(REPEAT):
        t0 = time.time()
        ws.training.create(f"builtin-{i}", algorithm="xgboost", channels={"train": "dataset/bench"}, target="y",  # type: ignore[attr-defined]
                           hyperparameters={"num_round": 5})  # fmt: skip
        ws.training.wait(f"builtin-{i}")  # type: ignore[attr-defined]
        transitions = ws.training.record(f"builtin-{i}").data["secondary_status_transitions"]  # type: ignore[attr-defined]
        out.append(next(t["StartTime"] for t in transitions if t["Status"] == "Training") - t0)
    return out


def main() -> None:
    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "ws"
        os.environ["FORGEML_HOME"] = str(home)
        ws = Workspace(load_settings(home=str(home), job_poll_seconds=0.05))
        results: dict[str, object] = {"python_floor": _summary(python_floor())}
        for key, values in script_mode(ws, Path(tmp)).items():
            results[key] = _summary(values)
        results["builtin_training"] = _summary(builtin(ws))
        ws.close()
    median = results["script_first_line"]["median_s"]  # type: ignore[index]
    med = {k: results[k]["median_s"] for k in ("supervisor_up", "worker_first_log", "script_first_line")}  # type: ignore[index]
    results["breakdown_median_s"] = {
        "create_to_supervisor_in_progress (core: interpreter + imports + store open)": med["supervisor_up"],
        "supervisor_to_worker_first_log (core: fork of the supervisor, worker store open)": med["worker_first_log"] - med["supervisor_up"],
        "worker_first_log_to_script_first_line (training: channels, code, env, script start)": med["script_first_line"] - med["worker_first_log"],
    }
    report = {
        "benchmark": "training",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m": os.getloadavg()[0]},
        "versions": {p: version(p) for p in ("forgeml", "sqlalchemy", "xgboost-cpu", "scikit-learn", "pandas")},
        "goal": f"training-job launch overhead (create -> the script's first line) under {GOAL_S:g} s",
        "results": results,
        "verdict": "pass" if median < GOAL_S else "fail",
        "notes": f"{REPEAT} launches each, sequential, embedded workspace (SQLite + local artifacts). The machine is "
                 "shared by several engineers running tests, so the 1-minute load average is recorded; on 2 cores a load "
                 "above 2 inflates every number. Most of the overhead is the core job system's two Python interpreters "
                 "(supervisor, worker), each importing SQLAlchemy/pydantic-settings and opening the store; the training "
                 "part (worker first log -> script first line) is the last row of the breakdown.",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v.get("median_s", v) if isinstance(v, dict) else v for k, v in results.items()}, indent=2))
    print("verdict:", report["verdict"])


if __name__ == "__main__":
    main()
