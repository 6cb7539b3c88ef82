"""Accelerator discovery for training jobs: how many GPUs this machine gives a job.

SageMaker tells a script how many GPUs its instance has (``SM_NUM_GPUS``, ``num_gpus`` in
``SM_TRAINING_ENV``); a script then picks ``cuda`` when there are any. ForgeML discovers the count
instead of assuming one: ``CUDA_VISIBLE_DEVICES`` when it is set (what CUDA itself would expose),
else the NVIDIA device nodes ``/dev/nvidia0``, ``/dev/nvidia1``, ... . Nothing is imported and no
driver is called, so a CPU-only machine pays nothing and the job's own framework still decides
(``torch.cuda.is_available()``), see :func:`torch_device`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_NODE = re.compile(r"^nvidia(\d+)$")


def gpu_count(environ: dict[str, str] | None = None, dev: Path = Path("/dev")) -> int:
    """The number of GPUs a job on this machine can use (0 on a CPU-only machine).

    Args:
        environ: the environment to read ``CUDA_VISIBLE_DEVICES`` from (default ``os.environ``).
        dev: the device folder to look for ``nvidiaN`` nodes in.
    """
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        out = []
        for v in ids:
            if v.startswith("-"):  # CUDA stops at the first invalid id ("-1" hides every GPU)
                break
            out.append(v)
        return len(out)
    try:
        return sum(1 for p in dev.iterdir() if _NODE.match(p.name))
    except OSError:
        return 0


def torch_device() -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"`` (what a job's script should use)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


__all__ = ["gpu_count", "torch_device"]
