"""Step functions the pipeline tests run (imported by the job processes from this file)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def mark(path: str, label: str) -> None:
    """Append ``label`` to the file at ``path``: how tests count how often a step ran."""
    with open(path, "a") as fh:
        fh.write(label + "\n")


def add(a: int, b: int, log: str = "") -> dict[str, Any]:
    if log:
        mark(log, f"add {a} {b}")
    return {"sum": a + b}


def make_loans(n: int, seed: int = 0, log: str = "") -> dict[str, Any]:
    """A small classification frame as a dataset output, and its row count as a result."""
    import numpy as np
    import pandas as pd

    if log:
        mark(log, "make_loans")
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = (x1 + 0.5 * x2 + rng.normal(scale=0.3, size=n) > 0).astype(int)
    return {"train": pd.DataFrame({"x1": x1, "x2": x2, "y": y}), "rows": n}


def report(value: float, outputs: dict[str, Path]) -> None:
    """Write a property file ``evaluation.json`` into the ``report`` output."""
    (outputs["report"] / "evaluation.json").write_text(json.dumps({"metrics": {"score": {"value": value}}, "items": [1, 2]}))


def slow(seconds: float, log: str, label: str = "slow", gate: str = "") -> dict[str, Any]:
    """Mark, then wait ``seconds`` (or until ``gate`` exists), then mark again."""
    mark(log, f"{label} start {os.getpid()}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (gate and Path(gate).exists()):
        time.sleep(0.05)
    mark(log, f"{label} end")
    return {"label": label}


def flaky(log: str, failures: int, kind: str = "SageMaker.JOB_INTERNAL_ERROR") -> dict[str, Any]:
    """Fail with ``kind`` the first ``failures`` times (counted in ``log``), then succeed."""
    from forgeml.pipelines import StepFault

    done = Path(log).read_text().count("flaky") if Path(log).exists() else 0
    mark(log, "flaky")
    if done < failures:
        raise StepFault(kind, f"attempt {done + 1} failed")
    return {"attempts": done + 1}


def boom(message: str = "bad input") -> None:
    raise ValueError(message)


def double(x: int) -> int:
    return 2 * x
