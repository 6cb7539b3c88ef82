"""``forgeml endpoints invoke-async | async-result | async-backlog`` against a real endpoint."""

from __future__ import annotations

from pathlib import Path

import orjson

from forgeml.core.workspace import Workspace
from tests.cli_runner import run_cli


def test_invoke_async_then_result_and_backlog(ws: Workspace, packages: dict[str, Path], tmp_path: Path) -> None:
    ws.endpoints.deploy("cli-asy", str(packages["logistic"]))
    try:
        rows = tmp_path / "rows.csv"
        rows.write_bytes(b"0.5,3,red\n-1,2,blue\n")
        r = run_cli(ws.home, "endpoints", "invoke-async", "cli-asy", "--file", str(rows), "--inference-id", "c1", "--wait", "30", "--json")
        assert r.returncode == 0, r.stderr
        out = orjson.loads(r.stdout)
        assert out["InferenceId"] == "c1" and out["Status"] == "Completed" and out["OutputLocation"].endswith("/c1.out")
        r = run_cli(ws.home, "endpoints", "async-result", "cli-asy", "c1", "--json")
        assert r.returncode == 0, r.stderr
        got = orjson.loads(r.stdout)
        assert got["Status"] == "Completed" and len(orjson.loads(got["Result"])["predictions"]) == 2
        answer = tmp_path / "answer.json"
        r = run_cli(ws.home, "endpoints", "async-result", "cli-asy", "c1", "-o", str(answer))
        assert r.returncode == 0 and "c1: Completed" in r.stderr and "predictions" in answer.read_text()
        r = run_cli(ws.home, "endpoints", "invoke-async", "cli-asy", "--file", str(tmp_path / "none.csv"))
        assert r.returncode != 0 and "request file" in r.stderr and "does not exist" in r.stderr and "Traceback" not in r.stderr
        r = run_cli(ws.home, "endpoints", "invoke-async", "cli-asy", "--input", "dataset/nope")
        assert r.returncode != 0 and "nope" in r.stderr and "Traceback" not in r.stderr
        r = run_cli(ws.home, "endpoints", "async-backlog", "cli-asy", "--json")
        assert r.returncode == 0 and orjson.loads(r.stdout)["ApproximateBacklogSize"] == 0
        r = run_cli(ws.home, "endpoints", "async-result", "cli-asy", "missing")
        assert r.returncode != 0 and "no async request 'missing'" in r.stderr
    finally:
        ws.endpoints.delete("cli-asy")
