"""Script mode: an unmodified SageMaker script trains under the toolkit contract."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score

from forgeml.core.jobs._local import pid_alive
from forgeml.core.workspace import Workspace
from forgeml.registry import load_model

SCRIPTS = Path(__file__).parent / "scripts"
ACCURACY = [{"Name": "validation:accuracy", "Regex": r"test accuracy: ([0-9.]+)"},
            {"Name": "train:accuracy", "Regex": r"train accuracy: ([0-9.]+)"}]  # fmt: skip


def test_sagemaker_script_trains_in_its_own_venv_and_is_packaged(
    ws: Workspace, datasets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the requirements are satisfied: never touch the network
    _start_raw_model_job(ws, datasets)
    job = ws.training.create(
        "rf-script", script="train.py", source_dir=str(SCRIPTS / "sklearn_rf"),
        hyperparameters={"n-estimators": 20, "min-samples-leaf": 2, "target": "y"},
        channels={"train": {"source": datasets["train"], "content_type": "text/csv"},
                  "test": {"source": datasets["validation"], "content_type": "text/csv"}},
        target="y", metric_definitions=ACCURACY, seed=7, wait=True,
    )  # fmt: skip
    assert job.status == "Completed", job.failure_reason
    logs = "\n".join(ws.training.logs("rf-script"))
    assert "installing requirements.txt into the job's venv" in logs
    assert "Requirement already satisfied: scikit-learn" in logs

    # the metric definition turned the log line into a series, equal to an independent computation
    series = ws.training.metrics("rf-script", "validation:accuracy")
    assert len(series) == 1
    model = load_model(ws.training.model_dir("rf-script"))
    assert model.manifest.task == "binary" and model.manifest.classes == [0, 1]
    assert (ws.training.model_dir("rf-script") / "source_model" / "model.joblib").is_file()
    valid = ws.datasets.read("va")
    expected = accuracy_score(valid["y"], model.predict(valid)["predicted_label"])
    assert abs(series[0].value - expected) < 1e-6

    # the toolkit environment, as the script saw it
    info = ws.training.describe("rf-script")
    out_dir = Path(ws.home / "jobs" / "rf-script" / "ml")
    env = json.loads((out_dir / "output" / "data" / "environment.json").read_text())
    assert json.loads(env["SM_CHANNELS"]) == ["test", "train"]
    assert env["SM_CHANNEL_TRAIN"] == str(out_dir / "input" / "data" / "train")
    assert env["SM_HP_N_ESTIMATORS"] == "20" and env["SM_HP_TARGET"] == "y"
    assert json.loads(env["SM_HPS"]) == {"n-estimators": 20, "min-samples-leaf": 2, "target": "y"}
    assert json.loads(env["SM_USER_ARGS"]) == ["--min-samples-leaf", "2", "--n-estimators", "20", "--target", "y"]
    assert env["SM_CURRENT_HOST"] == "algo-1" and json.loads(env["SM_HOSTS"]) == ["algo-1"]
    assert env["SM_NUM_GPUS"] == "0" and int(env["SM_NUM_CPUS"]) >= 1
    assert json.loads(env["SM_TRAINING_ENV"])["hyperparameters"]["n-estimators"] == 20
    assert json.loads(env["SM_INPUT_DATA_CONFIG"])["train"]["ContentType"] == "text/csv"
    hps = json.loads((out_dir / "input" / "config" / "hyperparameters.json").read_text())
    assert hps == {"n-estimators": "20", "min-samples-leaf": "2", "target": "y"}
    assert json.loads((out_dir / "input" / "config" / "resourceconfig.json").read_text())["current_host"] == "algo-1"
    repro = info["Reproducibility"]
    assert repro["seed"] == 7 and repro["code"] and repro["command"][-6:] == json.loads(env["SM_USER_ARGS"])
    assert "scikit-learn" in repro["packages"]
    _check_raw_model_job(ws)


def _start_raw_model_job(ws: Workspace, datasets: dict[str, str]) -> None:
    ws.training.create(
        "resumable-once", script=str(SCRIPTS / "resumable.py"), channels={"train": datasets["train"]},
        hyperparameters={"iterations": 3, "sleep": 0}, metric_definitions=[{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}],
    )  # fmt: skip


def _check_raw_model_job(ws: Workspace) -> None:
    """A script that saves no pickled estimator: its model folder is kept as it is."""
    assert ws.training.wait("resumable-once").status == "Completed"
    folder = ws.training.model_dir("resumable-once")
    assert json.loads((folder / "weights.json").read_text()) == {"weight": 3.0}
    assert ws.training.record("resumable-once").data["model_packaged"] is False
    assert [round(m.value, 6) for m in ws.training.metrics("resumable-once", "train:loss")] == [1.0, 0.5, 0.333333]


def test_crashing_hanging_and_isolated_scripts(ws: Workspace, datasets: dict[str, str]) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    socket.create_connection(("127.0.0.1", port), timeout=3).close()  # reachable from here
    ws.training.create("hang", script=str(SCRIPTS / "hang.py"), channels={"train": datasets["train"]}, max_runtime_seconds=8)
    ws.training.create("crash", script=str(SCRIPTS / "crash.py"), channels={"train": datasets["train"]})
    ws.training.create(
        "isolated", script=str(SCRIPTS / "netprobe.py"), channels={"train": datasets["train"]},
        hyperparameters={"port": port}, network_isolation=True,
    )  # fmt: skip
    # network isolation (root on Linux here): the script cannot reach a port this test can
    assert ws.training.wait("isolated", timeout=60).status == "Completed"
    assert "network: blocked" in "\n".join(ws.training.logs("isolated"))
    assert ws.training.describe("isolated")["EnableNetworkIsolation"] is True
    listener.close()
    # a crash: Failed, with the script's last lines as the reason
    job = ws.training.wait("crash", raise_on_failure=False, timeout=60)
    assert job.status == "Failed" and job.secondary_status == "Failed"
    assert job.failure_reason.startswith("AlgorithmError: ExecuteUserScriptError: ExitCode 1")
    assert "ValueError: column 'income' has 12 missing values" in job.failure_reason
    with pytest.raises(Exception, match="no model artifact"):
        ws.training.model_artifact("crash")
    # a hang: stopped at max runtime, and nothing of its process group survives
    job = ws.training.wait("hang", raise_on_failure=False, timeout=60)
    assert job.status == "Stopped" and job.secondary_status == "MaxRuntimeExceeded"
    logs = "\n".join(ws.training.logs("hang"))
    helper = int(re.search(r"helper pid (\d+)", logs).group(1))
    for pid in (helper, job.handle["script_pid"], job.handle["worker_pid"]):
        assert not pid_alive(pid, None), f"process {pid} survived the job"
