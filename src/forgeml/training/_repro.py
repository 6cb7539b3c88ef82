"""The reproducibility record of a training job: seed, data and code hashes, versions, command."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

PACKAGES = ("forgeml", "numpy", "pandas", "pyarrow", "scikit-learn", "xgboost-cpu", "xgboost", "lightgbm", "joblib")


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the packages a training job depends on."""
    out = {}
    for name in (*PACKAGES, *extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def record(
    *,
    seed: int,
    datasets: dict[str, str],
    code: str | None,
    command: list[str],
    hyperparameters: dict[str, Any],
) -> dict[str, Any]:
    """Everything needed to rerun a job and get the same model.

    Args:
        seed: the job's random seed.
        datasets: channel -> sha256 of the data it read.
        code: sha256 (artifact digest) of the training code, None for built-ins.
        command: the command line (or entrypoint) that trained.
        hyperparameters: the resolved hyperparameters.
    """
    return {
        "seed": seed,
        "datasets": datasets,
        "code": code,
        "command": command,
        "hyperparameters": hyperparameters,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
    }


__all__ = ["package_versions", "record"]
