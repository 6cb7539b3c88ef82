"""PyTorch script mode: an unchanged SageMaker PyTorch script trains, packages, compiles, prunes,
quantizes and serves; a kill -9 resumes with continuing metric steps; failures are clear."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from forgeml.core.jobs._local import pid_alive
from forgeml.core.workspace import Workspace
from forgeml.errors import ConflictError, NotFoundError, ValidationError
from forgeml.registry import load_model
from forgeml.settings import load_settings
from forgeml.training._device import gpu_count
from tests.training.conftest import make_frame

SCRIPT = Path(__file__).parent / "scripts" / "torch_mlp.py"
FRAME = make_frame(400).drop(columns=["amount"])
VA = FRAME.iloc[300:].reset_index(drop=True)
METRICS = [{"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"}, {"Name": "validation:accuracy", "Regex": r"val_accuracy=([0-9.]+)"}]


def _job(ws: Workspace, name: str, **hyperparameters: object) -> None:
    ws.training.create(
        name, script=str(SCRIPT), channels={"train": "dataset/tr", "validation": "dataset/va"}, target="y",
        hyperparameters={"epochs": 4, **hyperparameters}, metric_definitions=METRICS,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace whose jobs run at once: a good one, one that raises, and one that pauses after
    epoch 2 to be killed (and saves no model; not waited for here)."""
    home = tmp_path_factory.mktemp("torch") / "ws"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORGEML_HOME", str(home))
        for var in ("FORGEML_DATABASE_URL", "FORGEML_ARTIFACT_URI", "FORGEML_CONFIG"):
            mp.delenv(var, raising=False)
        ws = Workspace(load_settings(home=str(home), job_stop_grace_seconds=2.0, job_poll_seconds=0.1))
        ws.datasets.create("tr", FRAME.iloc[:300].reset_index(drop=True))
        ws.datasets.create("va", VA)
        ws.training.create(
            "spot", script=str(SCRIPT), channels={"train": "dataset/tr", "validation": "dataset/va"}, target="y",
            hyperparameters={"epochs": 5, "pause-after": 2, "save": 0}, metric_definitions=METRICS,
            checkpoint=True, checkpoint_interval_seconds=0.2,
        )  # fmt: skip
        _job(ws, "mlp", hidden=256)
        _job(ws, "raises", **{"fail-at": 0})
        for name in ("mlp", "raises"):
            ws.training.wait(name, timeout=120, raise_on_failure=False)
        yield ws
        ws.close()


def test_an_unchanged_pytorch_script_trains_on_the_discovered_device(tws: Workspace) -> None:
    job = tws.training.get("mlp")
    assert job.status == "Completed", job.failure_reason
    logs = "\n".join(tws.training.logs("mlp"))

    gpus = gpu_count()  # discovered, so a GPU machine runs the same script on cuda
    device = "cuda" if gpus and torch.cuda.is_available() else "cpu"
    assert f"host algo-1 of ['algo-1'], {gpus} gpus, device={device}" in logs
    assert [m.step for m in tws.training.metrics("mlp", "train:loss")] == [0, 1, 2, 3]
    accuracy = [m.value for m in tws.training.metrics("mlp", "validation:accuracy")]
    assert accuracy[-1] > 0.8
    # the exported program became a ForgeML package: signature from the train channel, classes from y
    model = load_model(tws.training.model_dir("mlp"))
    assert model.manifest.task == "binary" and model.manifest.feature_names == ["a", "b", "c", "d"]
    assert (tws.training.model_dir("mlp") / "source_model" / "model.pt2").is_file()
    va = VA.copy()
    pred = model.predict(va)
    assert float(np.mean(pred["predicted_label"].to_numpy() == va["y"].to_numpy())) == pytest.approx(accuracy[-1], abs=1e-6)


def test_torch_model_registers_compiles_to_onnx_and_serves(tws: Workspace) -> None:
    tws.registry.register("mlp", training_job="mlp")
    compiled = tws.registry.compile("mlp", 1, holdout="dataset/va")
    report = compiled.data["compilation"]
    assert report["converter"].startswith("torch.onnx ") and report["max_abs_deviation"] < 1e-4
    assert report["label_agreement"] == 1.0 and report["accuracy"]["change"] == 0.0
    onnx_model = tws.registry.load("mlp", compiled.version, trusted=False)  # ONNX only, nothing unpickled
    va = VA.copy()
    expected = tws.registry.load("mlp", 1).predict(va)["score"].to_numpy()
    np.testing.assert_allclose(onnx_model.predict(va)["score"].to_numpy(), expected, atol=1e-5)
    ep = tws.endpoints.create("mlp-ep", {"variants": [{"model": f"mlp:{compiled.version}"}], "trusted": False})
    try:
        body = "\n".join(",".join(str(v) for v in row) for row in va[["a", "b", "c", "d"]].iloc[:5].to_numpy().tolist())
        out = tws.endpoints.invoke(ep.name, body, content_type="text/csv", accept="application/json")
        got = [p["score"] for p in json.loads(out.body)["predictions"]]
        np.testing.assert_allclose(got, expected[:5], atol=1e-5)
    finally:
        tws.endpoints.delete("mlp-ep")
    # batch transform of the ONNX version and of the torch program itself (its own process), at once
    jobs = [tws.transforms.create(f"mlp:{compiled.version}", dataset="va", trusted=False), tws.transforms.create("mlp:1", dataset="va")]
    for job in jobs:
        assert tws.transforms.wait(job.name, timeout=120).status == "Completed"


def test_pruning_and_int8_quantization_report_and_refuse(tws: Workspace) -> None:
    if not any(g.name == "mlp" for g in tws.registry.list_groups()):  # when run on its own
        tws.registry.register("mlp", training_job="mlp")
    before = len(tws.registry.versions("mlp"))
    small = tws.registry.compile("mlp", 1, holdout="dataset/va", prune=0.3, quantize=True)
    report = small.data["compilation"]
    assert report["pruning"]["target_sparsity"] == 0.3 and abs(report["pruning"]["sparsity"] - 0.3) < 0.02
    assert report["quantized"] and report["size_bytes"]["after"] < report["size_bytes"]["onnx"]
    assert report["accuracy"]["metric"] == "accuracy" and report["accuracy"]["loss"] <= 0.02
    assert set(report["after"]) == {"single_row_ms", "batch_rows_per_second"}
    with pytest.raises(ValidationError, match=r"prune: sparsity must be at least 0 and below 1 \(got 1\.0\)"):
        tws.registry.compile("mlp", 1, holdout="dataset/va", prune=1.0)
    with pytest.raises(ValidationError, match=r"pruned model's accuracy goes from .* nothing was registered"):
        tws.registry.compile("mlp", 1, holdout="dataset/va", prune=0.97)
    with pytest.raises(ValidationError, match=r"need the target column 'y'"):
        tws.registry.compile("mlp", 1, holdout=VA.copy().drop(columns=["y"]), prune=0.3)
    assert len(tws.registry.versions("mlp")) == before + 1  # only the good one was registered


def test_a_raising_script_fails_clearly_and_registers_nothing(tws: Workspace) -> None:
    job = tws.training.get("raises")
    assert job.status == "Failed"
    assert 'ExecuteUserScriptError: ExitCode 1 ErrorMessage "' in job.failure_reason
    assert "RuntimeError: CUDA error: out of memory at epoch 0" in job.failure_reason
    with pytest.raises(ConflictError, match="training job 'raises' is Failed"):
        tws.registry.register("raised", training_job="raises")
    with pytest.raises(NotFoundError):
        tws.registry.get("raised")


def _checkpointed_epoch(ws: Workspace, name: str) -> int | None:
    """The epoch in the job's last synced checkpoint (read from the artifact store)."""

    digest = ws.training.get(name).handle.get("checkpoint")
    if not digest:
        return None
    entry = ws.artifacts.read_json(digest)["files"].get("checkpoint.pt")
    return int(torch.load(io.BytesIO(ws.artifacts.read_bytes(entry["digest"])))["epoch"]) if entry else None


def test_kill_9_resume_continues_the_metric_steps(tws: Workspace) -> None:
    ws = tws  # "spot" started with the module's jobs and pauses after checkpointing epoch 2
    deadline = time.monotonic() + 90
    while _checkpointed_epoch(ws, "spot") != 2:
        assert time.monotonic() < deadline, "the job never checkpointed epoch 2"
        assert ws.training.get("spot").status in ("Pending", "InProgress")
        time.sleep(0.1)
    job = ws.training.get("spot")
    for key in ("supervisor_pid", "worker_pid"):  # the machine goes away: the script dies with them
        os.killpg(job.handle[key], signal.SIGKILL)
    for key in ("supervisor_pid", "worker_pid", "script_pid"):
        for _ in range(100):
            if not pid_alive(job.handle[key], None):
                break
            time.sleep(0.05)
        assert not pid_alive(job.handle[key], None)
    assert job.handle["checkpoint_metric_steps"] == {"train:loss": 3, "validation:accuracy": 3}
    job = ws.training.wait("spot", timeout=90)
    assert job.status == "Completed" and job.attempts == 2
    logs = "\n".join(ws.training.logs("spot"))
    assert "resuming from epoch 3" in logs
    assert [int(e) for e in re.findall(r"epoch (\d+) train_loss", logs)] == [0, 1, 2, 3, 4]
    for key in ("train:loss", "validation:accuracy"):
        assert [m.step for m in ws.training.metrics("spot", key)] == [0, 1, 2, 3, 4]
    # this script saves no model (--save 0): the job completes, saying so, and nothing registers
    with pytest.raises(ConflictError, match=r"'torch_mlp\.py' saved nothing in SM_MODEL_DIR, so the job has no model"):
        ws.registry.register("nothing", training_job="spot")
    with pytest.raises(NotFoundError):
        ws.registry.get("nothing")


def test_gpu_count_follows_cuda_visible_devices_then_the_device_nodes(tmp_path: Path) -> None:
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"):
        (tmp_path / name).touch()
    assert gpu_count({}, tmp_path) == 2
    assert gpu_count({"CUDA_VISIBLE_DEVICES": "1"}, tmp_path) == 1
    assert gpu_count({"CUDA_VISIBLE_DEVICES": ""}, tmp_path) == 0
    assert gpu_count({"CUDA_VISIBLE_DEVICES": "0,-1,1"}, tmp_path) == 1
    assert gpu_count({}, tmp_path / "missing") == 0


def test_prune_over_rest_and_cli(tws: Workspace) -> None:
    from fastapi.testclient import TestClient

    from forgeml.api.app import create_app
    from tests.cli_runner import run_cli

    if not any(g.name == "mlp" for g in tws.registry.list_groups()):
        tws.registry.register("mlp", training_job="mlp")
    before = len(tws.registry.versions("mlp"))
    with TestClient(create_app(tws)) as api:
        refused = api.post("/model-package-groups/mlp/versions/1/compile", json={"holdout": "va", "prune": 1.0})
    assert 400 <= refused.status_code < 500 and "prune: sparsity must be at least 0 and below 1" in refused.json()["message"]
    done = run_cli(tws.home, "models", "compile", "mlp", "1", "--holdout", "va", "--prune", "0.2", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["pruning"]["target_sparsity"] == 0.2 and out["accuracy"]["metric"] == "accuracy"
    assert len(tws.registry.versions("mlp")) == before + 1


def test_script_output_reader_takes_everything_already_printed_and_universal_newlines() -> None:
    from forgeml.training._script import _Lines

    read_fd, write_fd = os.pipe()
    lines = _Lines(read_fd)
    os.write(write_fd, b"epoch 0 train_loss=0.5\r\nprogress 10%\rprogress 20%\nepoch 1 train_")
    assert lines.read(0.0) == ["epoch 0 train_loss=0.5\n", "progress 10%\n", "progress 20%\n"]
    os.write(write_fd, b"loss=0.4\nno newline at the end")
    os.close(write_fd)
    assert lines.read(0.0) == ["epoch 1 train_loss=0.4\n", "no newline at the end\n"]
    assert lines.ended and lines.read(0.0) == []
    os.close(read_fd)
