"""``forgeml train`` (in-process Typer runner plus one real subprocess) and ``/training-jobs``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from forgeml.api.app import create_app
from forgeml.cli import build_app
from forgeml.cli._common import state
from forgeml.core.workspace import Workspace
from forgeml.registry import load_model


@pytest.fixture
def cli(ws: Workspace) -> Iterator:  # type: ignore[type-arg]
    runner = CliRunner()
    app = build_app()
    state.home, state.workspace = str(ws.home), None

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--home", str(ws.home), "train", *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    yield run
    if state.workspace is not None:
        state.workspace.close()
    state.home, state.workspace = None, None


def test_cli_and_rest(ws: Workspace, datasets: dict[str, str], cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(ws)) as client:
        made = client.post("/training-jobs", json={
            "name": "api-if", "algorithm": "isolation-forest", "channels": datasets, "hyperparameters": {"num_trees": 20},
            "target": "y",  # labels on the validation channel: the AUC of the anomaly scores is reported
        })
        assert made.status_code == 201 and made.json()["TrainingJobName"] == "api-if"
    spec = tmp_path / "job.yaml"
    spec.write_text("algorithm: kmeans\nchannels:\n  train: dataset/tr\nhyperparameters:\n  k: 2\nseed: 3\n")
    out = cli("create", "cli-km", "--spec", str(spec), "--hp", "k=3", "--channel", "validation=dataset/va", "--wait")
    assert "training job cli-km: Completed" in out
    shown = json.loads(cli("show", "cli-km", "--json"))
    assert shown["HyperParameters"]["k"] == 3 and shown["Reproducibility"]["seed"] == 3
    assert {m["MetricName"] for m in shown["FinalMetricDataList"]} == {"train:msd", "train:ssd", "validation:msd", "validation:ssd"}
    assert {j["name"] for j in json.loads(cli("ls", "--json"))} == {"cli-km", "api-if"}
    assert "[forgeml] Training" in cli("logs", "cli-km", "-f")
    assert len(json.loads(cli("metrics", "cli-km", "--json", "--key", "train:msd"))) == 1
    algos = json.loads(cli("algorithms", "--json"))
    assert [a["name"] for a in algos] == [
        "xgboost", "lightgbm", "linear-learner", "random-forest", "kmeans", "isolation-forest", "knn",
        "pca", "factorization-machines", "blazingtext", "deepar", "image-classification",
    ]  # fmt: skip
    assert "num_round" in cli("algorithms")

    with TestClient(create_app(ws)) as client:
        got = client.get("/training-jobs/cli-km").json()
        assert got["TrainingJobStatus"] == "Completed" and got["ModelArtifacts"]["Packaged"] is True
        assert client.get("/training-jobs/cli-km/model").json()["artifact"] == ws.training.model_artifact("cli-km")
        assert "[forgeml] Uploading" in client.get("/training-jobs/cli-km/logs").text
        assert len(client.get("/training-jobs/cli-km/metrics").json()) == 4
        assert len(client.get("/training-jobs/algorithms").json()) == 12
        bad = client.post("/training-jobs", json={"algorithm": "xgboost", "channels": datasets, "target": "y", "hyperparameters": {"eta": 7}})
        assert bad.status_code == 400 and "'eta' of xgboost must be a float in [0, 1]" in bad.json()["message"]
        assert client.post("/training-jobs", json={"algorithm": "kmeans", "channels": {"train": "dataset/nope"}}).status_code == 404
        assert client.post("/training-jobs", json={"algorithm": "kmeans", "channels": datasets, "bogus": 1}).status_code == 400
        assert client.get("/training-jobs/nope").status_code == 404
        assert ws.training.wait("api-if").status == "Completed"
        assert [j["name"] for j in client.get("/training-jobs", params={"status": "Completed"}).json()] == ["cli-km", "api-if"]
        described = client.get("/training-jobs/api-if").json()
        assert {m["MetricName"] for m in described["FinalMetricDataList"]} == {
            "train:mean_anomaly_score", "validation:mean_anomaly_score", "validation:auc",
        }  # fmt: skip
        scores = load_model(ws.training.model_dir("api-if")).predict(ws.datasets.read("va"))
        assert set(scores["prediction"]) <= {-1, 1} and len(scores) == 100


def test_cli_error_is_one_line_with_exit_code(ws: Workspace, datasets: dict[str, str]) -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("forgeml")), "--home", str(ws.home), "train", "create", "--algorithm", "xgboost",
         "--channel", "train=dataset/tr", "--target", "y", "--hp", "eta=5"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: hyperparameter 'eta' of xgboost must be a float in [0, 1], got '5'"
