"""Schemathesis against ``/openapi.json``: every check, the coverage and fuzzing phases, a fixed
seed and a bounded number of examples per operation, on an empty and on a populated workspace.

Goal (issue 11, item 6): no server error and no status code the spec does not declare. The only
check tuned is ``positive_data_acceptance``: rules the spec cannot state (name syntax, "give
exactly one of A or B", a SELECT statement) make the server answer a schema-valid request with a
documented 400, which is right; so 400 joins the statuses that check accepts by default.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import NAME, Served

pytestmark = pytest.mark.slow

SEED = 11
MAX_EXAMPLES = 5

# what the populated run names in every path: the resources conftest.populate made
PATH_VALUES = {
    "path.name": NAME, "path.group": NAME, "path.version": 1, "path.alias": "champion", "path.experiment": NAME,
    "path.run": "r1", "path.ref": f"dataset/{NAME}:1", "path.kind": "profile", "path.record_id": "1",
}  # fmt: skip


def _config(path: Path, parameters: dict[str, Any] | None) -> Path:
    lines = [
        f"seed = {SEED}",
        "workers = 1",
        "[phases.examples]\nenabled = false",
        "[phases.stateful]\nenabled = false",
        "[phases.coverage]\nenabled = true",
        "[phases.fuzzing]\nenabled = true",
        f"[generation]\nmax-examples = {MAX_EXAMPLES}",
        '[checks.positive_data_acceptance]\nexpected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]',
    ]
    if parameters:
        lines.append("[parameters]")
        lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in parameters.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _schemathesis(served: Served, tmp: Path, parameters: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    config = _config(tmp / "schemathesis.toml", parameters)
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{served.url}/openapi.json",
        "--checks", "all", "--phases", "coverage,fuzzing", "--continue-on-failure", "--no-color",
        "--warnings", "off", "--request-timeout", "60",
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp, check=False)


def _assert_clean(run: subprocess.CompletedProcess[str]) -> None:
    out = run.stdout + run.stderr
    assert "Server error" not in out and "ST103" not in out, out[-20000:]
    assert run.returncode == 0, out[-20000:]


def test_empty_workspace(empty_server: Served, tmp_path: Path) -> None:
    _assert_clean(_schemathesis(empty_server, tmp_path))


def test_populated_workspace(populated_server: Served, tmp_path: Path) -> None:
    _assert_clean(_schemathesis(populated_server, tmp_path, PATH_VALUES))
