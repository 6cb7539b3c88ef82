"""``forgeml scaling ...`` against a real endpoint: register, policy, schedule, capacity, activity."""

from __future__ import annotations

from pathlib import Path

import orjson

from forgeml.core.workspace import Workspace
from tests.cli_runner import run_cli


def test_scaling_commands(ws: Workspace, packages: dict[str, Path], tmp_path: Path) -> None:
    ws.endpoints.deploy("cli-sc", str(packages["logistic"]))
    try:
        r = run_cli(ws.home, "scaling", "register", "cli-sc", "--min", "1", "--max", "3", "--json")
        assert r.returncode == 0, r.stderr
        assert orjson.loads(r.stdout)["resource_id"] == "endpoint/cli-sc/variant/AllTraffic"
        r = run_cli(ws.home, "scaling", "put-policy", "cli-sc", "ipi", "--metric", "SageMakerVariantInvocationsPerInstance", "--target", "70")
        assert r.returncode == 0 and "SageMakerVariantInvocationsPerInstance at 70" in r.stdout, r.stderr
        step = tmp_path / "step.json"
        step.write_text('{"policy_type": "StepScaling", "step_scaling": {"alarm": "missing", "steps": [{"lower": 0, "adjustment": 1}]}}')
        r = run_cli(ws.home, "scaling", "put-policy", "cli-sc", "st", "--file", str(step))
        assert r.returncode != 0 and "alarm 'missing' does not exist" in r.stderr and "Traceback" not in r.stderr
        r = run_cli(ws.home, "scaling", "schedule", "cli-sc", "nightly", "--schedule", "cron(0 22 * * ? *)", "--max", "1")
        assert r.returncode == 0, r.stderr
        r = run_cli(ws.home, "scaling", "schedule", "cli-sc", "bad", "--schedule", "sometimes", "--max", "1")
        assert r.returncode != 0 and "must be at(" in r.stderr
        r = run_cli(ws.home, "scaling", "set-capacity", "cli-sc", "2", "--json")
        assert r.returncode == 0 and orjson.loads(r.stdout)["ToCapacity"] == 2, r.stderr
        r = run_cli(ws.home, "scaling", "set-capacity", "cli-sc", "5")
        assert r.returncode != 0 and "outside" in r.stderr
        r = run_cli(ws.home, "scaling", "show", "cli-sc")
        assert r.returncode == 0 and "ipi" in r.stdout and "nightly" in r.stdout, r.stderr
        r = run_cli(ws.home, "scaling", "activity", "cli-sc")
        assert r.returncode == 0 and "scaling activity" in r.stdout and "Successful" in r.stdout, r.stderr
        r = run_cli(ws.home, "scaling", "activity", "cli-sc", "--json")
        assert [(a["Cause"], a["StatusCode"]) for a in orjson.loads(r.stdout)] == [("set by hand from 1 to 2", "Successful")]
        r = run_cli(ws.home, "scaling", "delete-policy", "cli-sc", "ipi")
        assert r.returncode == 0
        r = run_cli(ws.home, "scaling", "deregister", "cli-sc")
        assert r.returncode == 0 and "deregistered endpoint/cli-sc/variant/AllTraffic" in r.stdout
    finally:
        ws.endpoints.delete("cli-sc")
