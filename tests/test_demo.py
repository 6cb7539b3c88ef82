"""``forgeml demo`` end to end, as ``make demo`` runs it: real processes, nothing left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _forgeml_processes(home: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(home) in line and "pytest" not in line]


@pytest.mark.slow
def test_demo_runs_the_lifecycle_and_leaves_nothing_running(tmp_path: Path) -> None:
    home = tmp_path / "demo-ws"
    env = {**os.environ, "COLUMNS": "160"}
    env.pop("FORGEML_HOME", None)
    out = subprocess.run(
        [sys.executable, "-m", "forgeml", "--home", str(home), "demo", "--json"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    assert set(summary["stage_seconds"]) == {"data", "prepare", "features", "training", "evaluation", "serving", "monitoring", "deployment", "security"}
    security = summary["security"]
    assert (security["scientist_register"], security["scientist_approve"]) == (201, 403)
    assert (security["mlops_approve"], security["mlops_deploy"], security["invoke"]) == (200, 200, 200)
    outcomes = {(r["principal"], r["action"], r["outcome"]) for r in security["audit"]}
    assert ("demo-scientist", "models:Approve", "Denied") in outcomes and ("demo-mlops", "models:Approve", "Allowed") in outcomes
    assert security["audit_intact"] is True
    deployment = summary["deployment"]
    assert deployment["canary_rolled_back"]["status"] == "RolledBack"
    assert "alarm 'loans-canary-drill' went into ALARM" in deployment["canary_rolled_back"]["reason"]
    assert deployment["canary_completed"]["status"] == "Completed"
    assert deployment["canary_completed"]["endpoint_version"] > deployment["canary_rolled_back"]["endpoint_version"]
    shadow = deployment["shadow_test"]
    assert shadow["status"] == "Completed" and shadow["requests"] == 10 and shadow["rows"] == 40 and shadow["production_errors"] == 0
    assert 0 <= shadow["agreement"] <= 1
    mon = summary["monitoring"]
    assert mon["baseline"].startswith("monitoring-baseline/") and mon["cbpe_reference"].startswith("monitoring-baseline/")
    assert [w["status"] for w in mon["data_quality"]] == ["Completed", "CompletedWithViolations"]
    assert "appinc: baseline_drift_check" in mon["violations"]
    before, after = mon["estimate_before_labels"], mon["estimate_vs_realized"]
    assert before["rows"] == after["rows"] > 500 and before["labelled_rows"] < after["labelled_rows"]
    assert all(isinstance(v["realized"], float) and isinstance(v["agrees"], bool) for v in after["metrics"].values())
    lineage = json.dumps(summary["lineage"])
    for kind in ("dataset/loans", "job/", "model/"):
        assert kind in lineage
    assert _forgeml_processes(home) == []
    reports = [Path(p) for p in summary["reports"]]
    assert len(reports) == 6 and all(p.parent == home / "reports" and p.stat().st_size > 1000 for p in reports)


def test_summary_lines_print_no_python_reprs() -> None:
    from forgeml.demo import pairs, summary_lines

    summary = {"dataset": {"ref": "dataset/loans:1", "quarantine": ["dataset/q:1"], "missing": {"unit": 4}},
               "training": {"trials": [{"job": "t-1", "eta": 0.123456}], "rules": {"Overfit": "IssuesFound"}},
               "csv": ["1,0.5", "0,0.2"], "empty": {}, "nothing": None}  # fmt: skip
    lines = summary_lines(summary)
    assert lines == [
        "dataset:", "  ref: dataset/loans:1", "  quarantine: dataset/q:1", "  missing:", "    unit: 4",
        "training:", "  trials:", "    - job t-1, eta 0.1235", "  rules:", "    Overfit: IssuesFound",
        "csv: 1,0.5 | 0,0.2", "empty: none", "nothing: none",
    ]  # fmt: skip
    assert pairs({"a": 1, "b": {"c": 2}}) == "a 1, b (c 2)" and pairs({}) == "none"
