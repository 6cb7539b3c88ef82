"""CLI and REST faces of tuning jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.cli.tune import parse_range_flag
from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from tests.cli_runner import run_cli as forgeml


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("max_depth=Integer:2:8", ("max_depth", {"type": "Integer", "min": 2, "max": 8})),
        ("eta=continuous:0.01:0.3:Logarithmic", ("eta", {"type": "Continuous", "min": 0.01, "max": 0.3, "scaling": "Logarithmic"})),
        ("booster=Categorical:gbtree,dart", ("booster", {"type": "Categorical", "values": ["gbtree", "dart"]})),
        ("depth=Categorical:1,2", ("depth", {"type": "Categorical", "values": [1, 2]})),
    ],
)
def test_range_flags(flag: str, expected: tuple) -> None:
    assert parse_range_flag(flag) == expected


@pytest.mark.parametrize("flag", ["max_depth", "x=Integer:1", "x=Categorical:", "=Integer:1:2"])
def test_bad_range_flags(flag: str) -> None:
    with pytest.raises(ValidationError, match="--range"):
        parse_range_flag(flag)


def test_rest_create_then_cli_wait_show_and_errors(ws: Workspace, tmp_path: Path) -> None:
    body = {
        "name": "api", "strategy": "Grid", "objective": {"metric": "validation:loss", "type": "Minimize"},
        "parameter_ranges": {"shape": {"type": "Categorical", "values": ["round", "tilted"]}},
        "training": {"entrypoint": "forgeml.tuning.synthetic:bowl", "metrics": ["validation:loss"]},
        "max_parallel_jobs": 2,
    }  # fmt: skip
    with TestClient(create_app(ws)) as client:
        created = client.post("/tuning-jobs", json=body)
        assert created.status_code == 201 and created.json()["strategy"] == "Grid"
        waited = forgeml(ws.home, "tune", "wait", "api", "--json")
        assert waited.returncode == 0, waited.stderr
        assert json.loads(waited.stdout)["status"] == "Completed"
        got = client.get("/tuning-jobs/api").json()
        assert got["status"] == "Completed" and got["best"]["params"] == {"shape": "round"}
        assert len(client.get("/tuning-jobs/api/trials").json()) == 2
        assert [j["name"] for j in client.get("/tuning-jobs").json()] == ["api"]
        bad = client.post("/tuning-jobs", json={**body, "name": "bad", "strategy": "Annealing"})
        assert bad.status_code == 400 and "unknown strategy" in bad.json()["message"]
        many = {**body, "name": "bad", "strategy": "Random", "warm_start": {"parents": ["a", "b", "c", "d", "e", "f"]}}
        assert client.post("/tuning-jobs", json=many).status_code == 400
        assert client.post("/tuning-jobs", json={**body, "colour": "red"}).status_code == 400
        assert client.get("/tuning-jobs/nope").status_code == 404
        assert client.post("/tuning-jobs", json=body).status_code == 409
    table = forgeml(ws.home, "tune", "show", "api").stdout
    assert f"best training job: {got['best_training_job']}" in table and "tilted" in table
    assert "api" in forgeml(ws.home, "tune", "ls").stdout
    # the CLI builds a spec from a YAML file plus flags; bad input is one line and exit code 2
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "strategy: Random\n"
        "objective: {metric: 'validation:loss', type: Minimize}\n"
        "parameter_ranges:\n  x: {type: Continuous, min: -3, max: 3}\n"
        "training: {entrypoint: 'forgeml.tuning.synthetic:bowl', metrics: ['validation:loss']}\n"
    )
    bad = forgeml(ws.home, "tune", "create", str(spec), "--name", "bad", "--range", "x=Continuous:0:1:Logarithmic")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: parameter range 'x': Logarithmic scaling needs min > 0, got 0"
    bad = forgeml(ws.home, "tune", "create", str(spec), "--name", "bad", "--objective", "validation:auc")
    assert bad.returncode == 2 and "objective metric 'validation:auc' is not one" in bad.stderr
    bad = forgeml(ws.home, "tune", "create", str(tmp_path / "missing.json"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    assert ws.jobs.list(kind="tuning") == [ws.jobs.get("api")]
