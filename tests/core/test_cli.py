"""The ``forgeml`` CLI as a user runs it: real subprocesses, exit codes, one-line errors, JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace

F = "forgeml.testing.jobfuncs"


def forgeml(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FORGEML_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "forgeml", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_help_lists_groups(ws: Workspace) -> None:
    out = forgeml(ws.home, "--help")
    assert out.returncode == 0
    for word in ("jobs", "artifacts", "lineage", "events", "server", "demo"):
        assert word in out.stdout


def test_jobs_ls_show_logs_json(ws: Workspace) -> None:
    ws.jobs.submit("processing", f"{F}:hello", {"msg": "cli"}, name="cli-job")
    ws.jobs.wait("cli-job", timeout=60)
    listed = json.loads(forgeml(ws.home, "jobs", "ls", "--json").stdout)
    assert [j["name"] for j in listed] == ["cli-job"] and listed[0]["status"] == "Completed"
    shown = json.loads(forgeml(ws.home, "jobs", "show", "cli-job", "--json").stdout)
    assert shown["metrics"] == {"loss": pytest.approx(1 / 3)}
    assert "hello cli" in forgeml(ws.home, "jobs", "logs", "cli-job").stdout
    table = forgeml(ws.home, "jobs", "ls", "--status", "Completed").stdout
    assert "cli-job" in table and "Completed" in table
    filtered = json.loads(forgeml(ws.home, "jobs", "ls", "--status", "Failed", "--json").stdout)
    assert filtered == []
    metrics = json.loads(forgeml(ws.home, "jobs", "metrics", "cli-job", "--json").stdout)
    assert [m["step"] for m in metrics] == [0, 1, 2]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("jobs", "show", "nope"), 4, "error: job 'nope' does not exist"),
        (("lineage", "model/ghost"), 4, "error: model 'ghost' does not exist"),
        (("lineage", "no-slash"), 2, "error: invalid reference 'no-slash': give its kind as KIND/NAME"),
        (("jobs", "ls", "--status", "Exploded"), 2, "error: unknown job status 'Exploded'"),
        (("artifacts", "get", "abc", "out.bin"), 2, "error: invalid artifact digest 'abc'"),
    ],
)
def test_errors_are_one_line_without_traceback(ws: Workspace, args: tuple[str, ...], code: int, message: str) -> None:
    out = forgeml(ws.home, *args)
    assert out.returncode == code
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert out.stderr.startswith(message)
    assert "Traceback" not in out.stderr


def test_debug_shows_traceback(ws: Workspace) -> None:
    out = forgeml(ws.home, "--debug", "jobs", "show", "nope")
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_illegal_transition_from_cli(ws: Workspace) -> None:
    ws.jobs.submit("processing", f"{F}:hello", name="done-job")
    ws.jobs.wait("done-job", timeout=60)
    out = forgeml(ws.home, "jobs", "stop", "done-job")
    assert out.returncode == 6 and "cannot go from Completed to Stopping" in out.stderr
    assert ws.jobs.get("done-job").status == "Completed"


def test_lineage_tree_and_json(ws: Workspace) -> None:
    ws.lineage.record("dataset/loans:1", "job/train-1", "input")
    ws.jobs.submit("processing", f"{F}:hello", name="train-1")
    ws.jobs.wait("train-1", timeout=60)
    out_ref = ws.jobs.get("train-1").outputs[0]
    tree = forgeml(ws.home, "lineage", out_ref)
    assert tree.returncode == 0 and "job/train-1" in tree.stdout and "dataset/loans:1" in tree.stdout
    data = json.loads(forgeml(ws.home, "lineage", "dataset/loans:1", "--downstream", "--json").stdout)
    assert data["children"][0]["ref"] == "job/train-1"
    assert data["children"][0]["children"][0]["ref"] == out_ref


def test_events_and_artifacts_commands(ws: Workspace) -> None:
    rec = ws.artifacts.put_bytes(b"orphan")
    events = json.loads(forgeml(ws.home, "events", "--json").stdout)
    assert isinstance(events, list)
    arts = json.loads(forgeml(ws.home, "artifacts", "ls", "--unreferenced", "--json").stdout)
    assert [a["digest"] for a in arts] == [rec.digest]
    gc = json.loads(forgeml(ws.home, "artifacts", "gc", "--json").stdout)
    assert gc["deleted"] == [rec.digest]


def test_config_shows_settings(ws: Workspace) -> None:
    data = json.loads(forgeml(ws.home, "config", "--json").stdout)
    assert data["home"] == str(ws.home)
    assert data["database_url"].startswith("sqlite:///")
