"""A training job killed mid-run (the spot-interruption case) resumes from its last checkpoint."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from forgeml.core.jobs._local import pid_alive
from forgeml.core.workspace import Workspace

SCRIPTS = Path(__file__).parent / "scripts"


def test_sigkilled_job_resumes_from_checkpoint(ws: Workspace, datasets: dict[str, str]) -> None:
    ws.training.create(
        "spot", script=str(SCRIPTS / "resumable.py"), channels={"train": datasets["train"]},
        hyperparameters={"iterations": 20, "sleep": 0.25}, checkpoint=True, checkpoint_interval_seconds=0.2,
        metric_definitions=[{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}],
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:  # wait for a synced checkpoint past iteration 3
        job = ws.training.get("spot")
        logs = "\n".join(ws.training.logs("spot"))
        done = [int(i) for i in re.findall(r"iteration (\d+) loss", logs)]
        if job.handle.get("checkpoint") and done and max(done) >= 3:
            break
        assert time.monotonic() < deadline, "the job never checkpointed"
        time.sleep(0.1)
    # the machine goes away: kill the supervisor and the whole worker process group (script included)
    for key in ("supervisor_pid", "worker_pid"):
        os.killpg(job.handle[key], signal.SIGKILL)
    for key in ("supervisor_pid", "worker_pid", "script_pid"):
        for _ in range(50):
            if not pid_alive(job.handle[key], None):
                break
            time.sleep(0.05)
        assert not pid_alive(job.handle[key], None)
    saved = ws.artifacts.read_bytes(ws.artifacts.read_json(ws.training.get("spot").handle["checkpoint"])["files"]["state.json"]["digest"])
    resumed_at = int(re.search(rb'"iteration": (\d+)', saved).group(1))
    assert resumed_at >= 1

    job = ws.training.wait("spot", timeout=90)  # reconciles: relaunches the resumable job
    assert job.status == "Completed" and job.attempts == 2
    logs = "\n".join(ws.training.logs("spot"))
    starts = [int(s) for s in re.findall(r"starting at iteration (\d+)", logs)]
    assert starts == [0, resumed_at]  # the second attempt continued from the checkpoint, not from 0
    second = logs.split("attempt 2: resuming")[1]
    assert [int(i) for i in re.findall(r"iteration (\d+) loss", second)] == list(range(resumed_at, 20))
    # the weight counts every iteration exactly once across both attempts
    assert (ws.training.model_dir("spot") / "weights.json").read_text() == '{"weight": 20.0}'
    assert [e.type for e in ws.metadata.list_events(resource="job/spot") if e.type == "Interrupted"]
