"""Core benchmarks (issue 2), side by side in one run.

1. ``forgeml --help`` wall time next to ``python -c pass`` (goal: under 300 ms).
2. Listing and filtering 10,000 job records through the CLI and the REST API on SQLite
   (goal: under 1 s each).

Writes ``benchmarks/results/core.json`` with machine, versions and date.
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

RESULTS = Path(__file__).resolve().parents[1] / "results" / "core.json"
N_JOBS = 10_000


def wall(cmd: list[str], env: dict[str, str], repeat: int = 7) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def seed_jobs(home: Path) -> None:
    from forgeml.core.metadata import SqlMetadataStore
    from forgeml.core.records import JobRecord

    store = SqlMetadataStore(f"sqlite:///{home / 'forgeml.db'}")
    statuses = ["Completed", "Failed", "Stopped"]
    kinds = ["training", "processing", "transform", "tuning"]
    for i in range(N_JOBS):
        store.create_job(
            JobRecord(
                name=f"job-{i:05d}", kind=kinds[i % 4], status=statuses[i % 3], entrypoint="m:f",
                config={"hyperparameters": {"eta": 0.1, "max_depth": i % 10}},
            )
        )
    store.close()


def main() -> None:
    python = sys.executable
    forgeml = str(Path(python).with_name("forgeml"))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "ws"
        home.mkdir()
        env = {**os.environ, "FORGEML_HOME": str(home), "COLUMNS": "200"}
        results: dict[str, object] = {}
        results["python_c_pass"] = wall([python, "-c", "pass"], env)
        results["forgeml_help"] = wall([forgeml, "--help"], env)

        t0 = time.perf_counter()
        seed_jobs(home)
        results["seed_10k_jobs_s"] = time.perf_counter() - t0

        results["cli_list_all_10k_json"] = wall([forgeml, "jobs", "ls", "--limit", "0", "--json"], env, repeat=3)
        results["cli_filter_kind_status_json"] = wall(
            [forgeml, "jobs", "ls", "--kind", "training", "--status", "Completed", "--limit", "0", "--json"], env, repeat=3
        )
        results["cli_name_contains_table"] = wall([forgeml, "jobs", "ls", "--name-contains", "-09", "--limit", "0"], env, repeat=3)

        from fastapi.testclient import TestClient

        from forgeml.api.app import create_app
        from forgeml.core.workspace import Workspace
        from forgeml.settings import load_settings

        client = TestClient(create_app(Workspace(load_settings(home=str(home)))))
        api: dict[str, list[float]] = {"all": [], "filtered": []}
        for _ in range(5):
            t0 = time.perf_counter()
            resp = client.get("/jobs", params={"limit": 0})
            api["all"].append(time.perf_counter() - t0)
            assert len(resp.json()) == N_JOBS
            t0 = time.perf_counter()
            resp = client.get("/jobs", params={"kind": "training", "status": "Completed", "limit": 0})
            api["filtered"].append(time.perf_counter() - t0)
            assert len(resp.json()) == sum(1 for i in range(N_JOBS) if i % 12 == 0)
        results["api_list_all_10k"] = {"median_s": statistics.median(api["all"])}
        results["api_filter_kind_status"] = {"median_s": statistics.median(api["filtered"])}

    goals = {
        "forgeml_help_under_300ms": results["forgeml_help"]["median_s"] < 0.3,  # type: ignore[index]
        "cli_list_10k_under_1s": results["cli_list_all_10k_json"]["median_s"] < 1.0,  # type: ignore[index]
        "cli_filter_under_1s": results["cli_filter_kind_status_json"]["median_s"] < 1.0,  # type: ignore[index]
        "api_list_10k_under_1s": results["api_list_all_10k"]["median_s"] < 1.0,  # type: ignore[index]
        "api_filter_under_1s": results["api_filter_kind_status"]["median_s"] < 1.0,  # type: ignore[index]
    }
    report = {
        "benchmark": "core",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {p: version(p) for p in ("forgeml", "sqlalchemy", "typer", "fastapi", "rich")},
        "results": results,
        "goals_met": goals,
        "notes": "API timings are in-process through Starlette's TestClient (no socket); CLI timings include process start-up.",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
