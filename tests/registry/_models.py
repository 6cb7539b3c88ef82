"""Small fitted models and packages shared by the registry and batch-transform tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forgeml.core.jobs import JobContext
from forgeml.registry import save_model

FEATURES = [f"f{i}" for i in range(6)]


def frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A numeric frame with a binary target that depends on three of its columns."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    y = pd.Series((X.f0 + 0.5 * X.f1 - X.f2 + rng.normal(scale=0.5, size=n) > 0).astype(int), name="label")
    return X, y


def inputs() -> list[dict[str, str]]:
    return [{"name": c, "type": "float64"} for c in FEATURES]


def hgb_package(path: Path, *, seed: int = 0, max_iter: int = 30) -> Path:
    """A HistGradientBoosting binary classifier saved as a package at ``path``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = frame(seed=seed)
    model = HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed).fit(X, y)
    save_model(model, path, task="binary", inputs=inputs(), target="label", metrics={"auc": 0.9})
    return path


def train_job(ctx: JobContext) -> None:
    """A real training-job entrypoint: fit, save a package, store it, record it as output."""
    path = hgb_package(ctx.workdir / "model", seed=int(ctx.config.get("seed", 0)))
    record = ctx.workspace.artifacts.put_dir(path, owner=ctx.job.ref)
    ctx.add_output(f"artifact/{record.digest}")


class WritesMarker:
    """Unpickling this writes ``path``: proof that a load executed the package's code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({self.path!r}, 'w').write('executed')",)


def swap_pickle(package: Path, marker: Path, *, rewrite_manifest: bool = True) -> None:
    """Replace a package's ``model.joblib`` with a pickle that writes ``marker`` when loaded and,
    like an attacker would, rewrite the manifest's self-declared hashes to match."""
    import joblib

    from forgeml.registry import read_manifest
    from forgeml.registry.package import write_manifest

    (package / "model.joblib").chmod(0o644)
    joblib.dump(WritesMarker(marker), package / "model.joblib")
    if rewrite_manifest:
        from dataclasses import replace

        write_manifest(package, replace(read_manifest(package), files={}))


def identity(frame: pd.DataFrame) -> pd.DataFrame:
    """A recipe ``custom`` step's function (importable by name)."""
    return frame
