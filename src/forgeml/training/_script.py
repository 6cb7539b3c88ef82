"""Entrypoint of script-mode jobs: ``forgeml.training._script:run``.

Runs an unmodified SageMaker script-mode ``train.py`` under the training-toolkit contract (see
:mod:`forgeml.training._toolkit`), in the worker's process group so that stopping the job stops
the script and everything it started. Its output goes to the job log; metric definitions turn
log lines into metric series; the checkpoint folder is synced while it runs; what it saves in
``SM_MODEL_DIR`` becomes the model artifact (wrapped in a ForgeML package when it is a pickled
scikit-learn-API estimator).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.training._runtime import StopRequested, TrainingRun
from forgeml.training._toolkit import environment, layout, user_args
from forgeml.training.hook import parse_line

if TYPE_CHECKING:
    from forgeml.core.jobs import JobContext

MODEL_FILES = (".joblib", ".pkl", ".pickle")


class AlgorithmError(RuntimeError):
    """The training script failed (SageMaker's ``AlgorithmError`` failure reason)."""


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()))


def run(ctx: JobContext) -> None:
    """Run the job's training script (the job's entrypoint)."""
    tr = TrainingRun(ctx)
    cfg = ctx.config
    cpus = int(cfg.get("cpus") or os.cpu_count() or 1)
    root = ctx.workdir / "ml"
    for stale in (root / "model", root / "output", root / "code"):
        shutil.rmtree(stale, ignore_errors=True)  # a resumed attempt starts from its checkpoint only
    paths = layout(root, cfg["channels"], cfg["hyperparameters"], cpus)
    tr.download(paths["data"])
    shutil.rmtree(paths["code"])
    ctx.workspace.artifacts.get_dir(cfg["code_digest"], paths["code"])
    ctx.use_input(f"artifact/{cfg['code_digest']}")
    python = sys.executable
    if cfg.get("has_requirements"):
        from forgeml.training._venv import make_venv

        tr.phase("Downloading", "Installing requirements.txt into the job's venv")
        python = str(make_venv(ctx.workdir / "venv", paths["code"] / "requirements.txt", sys.stdout))
    cmd = [python, str(paths["code"] / cfg["script"]), *user_args(cfg["hyperparameters"])]
    if cfg.get("network_isolation"):
        from forgeml.training._isolation import isolate

        cmd = isolate(cmd)
    _class_counts(tr, paths["data"])
    env = {**os.environ, **environment(
        paths, job_name=ctx.name, script=cfg["script"], channels=cfg["channels"], hyperparameters=cfg["hyperparameters"],
        cpus=cpus, checkpoint_dir=ctx.checkpoint_dir, seed=int(cfg.get("seed", 0)),
    )}  # fmt: skip
    tr.phase("Training", "Training in progress")
    code, tail = _supervise(tr, cmd, paths["code"], env)
    if code != 0:
        failure = paths["output"] / "failure"
        message = failure.read_text().strip()[:700] if failure.exists() else " | ".join(tail)
        how = f"killed by signal {-code}" if code < 0 else f"ExitCode {code}"
        raise AlgorithmError(f"ExecuteUserScriptError: {how} ErrorMessage \"{message}\" Command \"{cfg['script']}\"")
    tr.finish_rules()
    _upload(tr, paths)


def _supervise(tr: TrainingRun, cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    """Run the script; stream, parse and checkpoint until it exits. Returns (exit code, last lines)."""
    ctx, cfg = tr.ctx, tr.config
    defs = [(d["Name"], re.compile(d["Regex"])) for d in cfg.get("metric_definitions") or []]
    steps = resumed_steps(ctx)
    tail: deque[str] = deque(maxlen=5)
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        bufsize=0,
    )  # fmt: skip
    ctx.workspace.metadata.update_job(ctx.name, handle_update={"script_pid": proc.pid})
    tr.reproducibility(cmd, cfg["code_digest"])  # recorded while the script starts up
    assert proc.stdout is not None
    lines = _Lines(proc.stdout.fileno())
    checkpointing = bool(cfg.get("checkpoint"))
    interval = float(cfg.get("checkpoint_interval_seconds", 2.0))
    synced = _signature(ctx.checkpoint_dir) if checkpointing else ()
    last_sync = time.monotonic()

    def parse(line: str) -> None:
        sys.stdout.write(line)
        if line.strip():
            tail.append(line.strip()[:300])
        for name, pattern in defs:
            match = pattern.search(line)
            if match:
                try:
                    value = float(match.group(1))
                except (ValueError, IndexError):
                    continue
                tr.metric(name, value, steps.get(name, 0))
                steps[name] = steps.get(name, 0) + 1
                tr.check_rules()
        tensors = parse_line(line)  # the opt-in tensor hook (forgeml.training.hook)
        if tensors:
            for name, value in tensors.items():
                tr.metric(name, value, steps.get(name, 0))
                steps[name] = steps.get(name, 0) + 1
            tr.check_rules()

    try:
        while not lines.ended:
            for line in lines.read(0.2):
                parse(line)
            if checkpointing and time.monotonic() - last_sync >= interval:
                last_sync = time.monotonic()
                now = _signature(ctx.checkpoint_dir)
                if now != synced and now:
                    for line in lines.read(0.0):  # what it printed before writing the checkpoint counts in it
                        parse(line)
                    save_checkpoint(tr, steps)
                    synced = now
    except StopRequested as stop:
        tr.stop_self(str(stop))
    code = proc.wait()
    tr.flush()
    if checkpointing and code == 0 and _signature(ctx.checkpoint_dir) not in (synced, ()):
        save_checkpoint(tr, steps)
    return code, list(tail)


_NEWLINE = re.compile(rb"\r\n|\r|\n")


class _Lines:
    """The script's output lines, read in the supervisor's own thread without blocking.

    Reading here (not in a helper thread) makes a checkpoint sync exact: every line the script
    printed before it wrote the checkpoint is already in the pipe when the sync sees the files,
    and :meth:`read` with no wait takes all of it, so the metric steps saved with the checkpoint
    match what the checkpoint holds.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self.pending = b""
        self.ended = False

    def read(self, timeout: float) -> list[str]:
        """Every complete line available now, waiting up to ``timeout`` seconds for the first."""
        if self.ended:
            return []
        ready, _, _ = select.select([self.fd], [], [], timeout)
        while ready:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                self.ended = True
                break
            self.pending += chunk
        *complete, self.pending = _NEWLINE.split(self.pending)  # universal newlines, as text mode had
        if self.ended and self.pending:
            complete, self.pending = [*complete, self.pending], b""
        return [line.decode(errors="replace") + "\n" for line in complete]


def resumed_steps(ctx: JobContext) -> dict[str, int]:
    """Where each metric-definition series continues: its step count at the restored checkpoint.

    A resumed attempt starts from the job's last checkpoint, so its first printed metric is the
    one that follows the checkpoint; numbering it from 0 again would restart the series
    (0, 1, 0, 1, 2, ...). The counts are saved with the checkpoint (:func:`save_checkpoint`), so
    points the killed attempt logged after its last checkpoint are re-numbered consistently.
    """
    if ctx.attempt <= 1 or not ctx.job.handle.get("checkpoint"):
        return {}
    return {str(k): int(v) for k, v in (ctx.job.handle.get("checkpoint_metric_steps") or {}).items()}


def save_checkpoint(tr: TrainingRun, steps: dict[str, int]) -> str:
    """Sync the checkpoint folder and, in the same job update, the metric step counts it matches."""
    ctx = tr.ctx
    tr.flush()
    record = ctx.workspace.artifacts.put_dir(ctx.checkpoint_dir, owner=ctx.job.ref)
    ctx.workspace.metadata.update_job(
        ctx.name, handle_update={"checkpoint": record.digest, "checkpoint_metric_steps": dict(steps)}
    )
    return record.digest


def _class_counts(tr: TrainingRun, data: Path) -> None:
    target = tr.config.get("target")
    if not target or "train" not in tr.config["channels"]:
        return
    from forgeml.training._channels import read_frame

    try:
        frame = read_frame(data / "train")
    except Exception:
        return
    if target in frame.columns:
        tr.rules.facts["class_counts"] = {str(k): int(v) for k, v in frame[target].value_counts().items()}


def _load_estimator(model_dir: Path) -> tuple[Path, Any] | None:
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in MODEL_FILES)
    for path in files:
        try:
            import joblib

            obj = joblib.load(path)
        except Exception:
            continue
        if hasattr(obj, "predict"):
            return path, obj
    return None


def _load_torch(tr: TrainingRun, model_dir: Path) -> tuple[Path, Any] | None:
    """A TorchScript model the script saved, wrapped as an estimator (see ``_torch.wrap_saved``)."""
    from forgeml.training._torch import SUFFIXES

    if not any(p.suffix in SUFFIXES for p in model_dir.iterdir()):
        return None
    try:
        import torch  # noqa: F401
    except ImportError:
        tr.ctx.log("[forgeml] a .pt model was saved but torch is not installed here: kept as a raw artifact")
        return None
    from forgeml.training._channels import read_frame
    from forgeml.training._torch import wrap_saved

    frame = None
    if "train" in tr.config["channels"]:
        try:
            frame = read_frame(model_dir.parent / "input" / "data" / "train")
        except Exception:
            frame = None
    return wrap_saved(model_dir, frame, tr.config.get("target"), tr.ctx.log)


def _upload(tr: TrainingRun, paths: dict[str, Path]) -> None:
    """Wrap a pickled estimator into a ForgeML package, else keep the raw model folder."""
    cfg = tr.config
    found = _load_estimator(paths["model"]) or _load_torch(tr, paths["model"])
    extra: dict[str, Any] = {}
    if any(paths["output_data"].iterdir()):
        art = tr.ws.artifacts.put_dir(paths["output_data"], owner=tr.ctx.job.ref)
        extra["output_data"] = art.digest
    if not any(paths["model"].iterdir()):  # nothing to upload: say so instead of an empty "model"
        note = f"the script {cfg['script']!r} saved nothing in SM_MODEL_DIR, so the job has no model"
        tr.ctx.log(f"[forgeml] {note}")
        tr.update(model_note=note, final_metrics=dict(sorted(tr.final.items())), **extra)
        return
    if found is not None:
        inputs = _inputs(tr, found[1])
        if inputs:
            from forgeml.registry.package import save_model

            model = found[1]
            classes = [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", [])] or None
            task = "regression" if classes is None else ("binary" if len(classes) == 2 else "multiclass")
            package = tr.ctx.workdir / "package"
            shutil.rmtree(package, ignore_errors=True)
            save_model(
                model, package, task=task, inputs=inputs, target=cfg.get("target"), classes=classes,
                algorithm=f"script:{cfg['script']}", metrics=dict(tr.final),
                extra={"training_job": tr.ctx.name, "hyperparameters": cfg["hyperparameters"], "source_model": found[0].name},
            )  # fmt: skip
            shutil.copytree(paths["model"], package / "source_model")
            tr.upload(package, packaged=True, extra={**extra, "task": task})
            return
    tr.upload(paths["model"], packaged=False, extra=extra)


def _inputs(tr: TrainingRun, model: Any) -> list[dict[str, str]] | None:
    """The raw input columns of a script's model: the train channel's, or the estimator's names."""
    cfg = tr.config
    schema = (cfg["channels"].get("train") or {}).get("schema")
    target = cfg.get("target")
    names = getattr(model, "feature_names_in_", None)
    if schema and target:
        types = {c["name"]: c["type"] for c in schema}
        cols = [str(n) for n in names] if names is not None else [c for c in types if c != target]
        if all(c in types for c in cols):
            return [{"name": c, "type": types[c]} for c in cols]
    if names is not None:
        return [{"name": str(n), "type": "float64"} for n in names]
    return None


__all__ = ["AlgorithmError", "run"]
