"""Small job entrypoints used by the core test suites and examples.

They are real entrypoints run by real worker processes; each does one observable thing.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from forgeml.core.jobs import JobContext


def hello(ctx: JobContext) -> None:
    """Log a greeting and one metric series, record an output artifact."""
    ctx.set_secondary_status("Training")
    ctx.log(f"hello {ctx.config.get('msg', 'world')}")
    for step in range(3):
        ctx.log_metric("loss", 1.0 / (step + 1), step)
    record = ctx.workspace.artifacts.put_bytes(b"result", owner=ctx.job.ref)
    ctx.add_output(f"artifact/{record.digest}")


def sleep(ctx: JobContext) -> None:
    """Sleep ``config['seconds']`` seconds, printing a tick each second."""
    for i in range(int(ctx.config.get("seconds", 60))):
        ctx.log(f"tick {i}")
        time.sleep(1)


def fail(ctx: JobContext) -> None:
    """Raise a ValueError with the configured message."""
    ctx.log("about to fail")
    raise ValueError(ctx.config.get("message", "boom"))


def exit_code(ctx: JobContext) -> None:
    """Exit the process with ``config['code']`` without raising."""
    ctx.log("exiting")
    sys.stdout.flush()
    os._exit(int(ctx.config.get("code", 3)))


def ignore_sigterm(ctx: JobContext) -> None:
    """Ignore SIGTERM so that only SIGKILL ends the job."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ctx.log("ignoring SIGTERM")
    while True:
        time.sleep(0.2)


def spawn_child(ctx: JobContext) -> None:
    """Start a grandchild process that sleeps, write its pid, and sleep too."""
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    (ctx.workdir / "child.pid").write_text(str(child.pid))
    ctx.log(f"child {child.pid}")
    time.sleep(600)


def count_with_checkpoints(ctx: JobContext) -> None:
    """Count to ``config['to']``, checkpointing after each step; resumes from the checkpoint."""
    state = ctx.checkpoint_dir / "counter.txt"
    start = int(state.read_text()) if state.exists() else 0
    ctx.log(f"attempt {ctx.attempt} starting at {start}")
    for i in range(start, int(ctx.config.get("to", 10))):
        time.sleep(float(ctx.config.get("step_seconds", 0.2)))
        state.write_text(str(i + 1))
        ctx.save_checkpoint()
        ctx.log_metric("count", i + 1, i + 1)
        ctx.log(f"step {i + 1}")
