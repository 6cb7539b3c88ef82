"""Entrypoint of built-in algorithm jobs: ``forgeml.training._builtin:run``.

Downloads the channels, fits the preparation recipe on the train channel, trains the algorithm
(per-iteration metrics, early stopping, checkpoints, debugger rules), and writes a ForgeML model
package (with the fitted recipe inside) to the artifact store.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ValidationError
from forgeml.training._channels import read_frame
from forgeml.training._runtime import TrainingRun

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.core.jobs import JobContext

# Idle OpenMP threads sleep instead of spinning: on a shared, oversubscribed machine a spinning
# XGBoost/LightGBM job ran 6x slower (measured: 30 s -> 5 s at load 13 on 2 cores). Set before
# any OpenMP runtime loads (the trainers import their libraries later).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@dataclass
class Prepared:
    """The data and settings a trainer needs."""

    X: pd.DataFrame
    y: np.ndarray | None
    Xv: pd.DataFrame | None
    yv: np.ndarray | None
    task: str
    classes: list[Any] | None
    hp: dict[str, Any]
    seed: int
    n_jobs: int


class Checkpointer:
    """Time-throttled checkpoints of an iterative trainer into ``ctx.checkpoint_dir``."""

    def __init__(self, ctx: JobContext, enabled: bool, interval: float) -> None:
        self.ctx, self.enabled, self.interval = ctx, enabled, interval
        self.dir = ctx.checkpoint_dir
        self._last = time.monotonic()

    def resumed(self) -> dict[str, Any] | None:
        """The saved state (``{"iteration": n, ...}``) when the job resumes from a checkpoint."""
        state = self.dir / "state.json"
        if not self.enabled or not state.exists():
            return None
        return json.loads(state.read_text())

    def maybe_save(self, iteration: int, write: Any, *, force: bool = False, **state: Any) -> bool:
        """Call ``write(dir)`` and sync the folder when the interval has passed (or ``force``)."""
        if not self.enabled or (not force and time.monotonic() - self._last < self.interval):
            return False
        write(self.dir)
        (self.dir / "state.json").write_text(json.dumps({"iteration": iteration, **state}))
        digest = self.ctx.save_checkpoint()
        self.ctx.log(f"[forgeml] checkpoint at iteration {iteration} ({digest[:12]})")
        self._last = time.monotonic()
        return True


def infer_task(y: pd.Series, predictor_type: str | None) -> str:
    """binary / multiclass / regression from the label column (or an explicit predictor type)."""
    import pandas as pd

    if predictor_type in ("regressor",):
        return "regression"
    n = y.nunique(dropna=True)
    is_class = predictor_type in ("classifier", "binary_classifier", "multiclass_classifier") or (
        not pd.api.types.is_float_dtype(y) or n <= 2
    )
    if not pd.api.types.is_numeric_dtype(y) and predictor_type == "regressor":
        raise ValidationError("a regressor needs a numeric target")
    if pd.api.types.is_integer_dtype(y) and n > 20 and predictor_type is None:
        is_class = False
    if not is_class:
        return "regression"
    if predictor_type == "multiclass_classifier" or n > 2:
        return "multiclass"
    return "binary"


def _prepare(tr: TrainingRun, folders: dict[str, Path]) -> tuple[Prepared, list[dict[str, str]], dict[str, Any] | None]:
    cfg = tr.config
    train = read_frame(folders["train"])
    valid = read_frame(folders["validation"]) if "validation" in folders else None
    target = cfg.get("target")
    features = cfg.get("features") or [c for c in train.columns if c != target]
    missing = [c for c in [*features, *([target] if target else [])] if c not in train.columns]
    if missing:
        raise ValidationError(f"train channel is missing column(s): {', '.join(missing)}")
    if valid is not None:
        missing = [c for c in [*features, *([target] if target else [])] if c not in valid.columns]
        if missing:
            raise ValidationError(f"validation channel is missing column(s): {', '.join(missing)}")
    inputs = [{"name": str(c), "type": str(train[c].dtype)} for c in features]
    X, Xv = train[features], None if valid is None else valid[features]
    fitted = None
    if cfg.get("recipe"):
        from forgeml.data.recipes import Recipe

        recipe = Recipe.from_dict(cfg["recipe"]).fit(X, target=train[target] if target else None)
        fitted = recipe.to_dict()
        X = recipe.transform(X, training=True)  # row-removing steps act on training rows only
        train = train.loc[X.index]
        Xv = None if Xv is None else recipe.transform(Xv)
    text = cfg["algorithm"] == "blazingtext"  # reads its one text column itself
    bad = [] if text else [str(c) for c in X.columns if not (np.issubdtype(X[c].dtype, np.number) or X[c].dtype == bool)]
    if bad:
        raise ValidationError(f"non-numeric input column(s) {', '.join(bad)}: give a recipe that encodes them")
    hp = cfg["hyperparameters"]
    y = yv = classes = None
    task = {"kmeans": "clustering", "isolation-forest": "anomaly", "pca": "projection"}.get(cfg["algorithm"], "")
    if target and not task:
        pt = hp.get("predictor_type")
        task = infer_task(train[target], None if pt in (None, "auto") else pt)
        if task == "regression":
            y = train[target].to_numpy(dtype=float)
            yv = None if valid is None else valid[target].to_numpy(dtype=float)
        else:
            classes = sorted(train[target].dropna().unique().tolist())
            index = {c: i for i, c in enumerate(classes)}
            y = train[target].map(index).to_numpy()
            if valid is not None:
                unseen = set(valid[target].dropna().unique().tolist()) - set(classes)
                if unseen:
                    raise ValidationError(f"validation channel has label(s) not in train: {sorted(map(str, unseen))}")
                yv = valid[target].map(index).to_numpy()
            counts = train[target].value_counts()
            tr.rules.facts["class_counts"] = {str(k): int(v) for k, v in counts.items()}
    elif target and valid is not None and task == "anomaly":
        yv = valid[target].to_numpy()
    n_jobs = int(cfg.get("cpus") or os.cpu_count() or 1)
    prepared = Prepared(X=X, y=y, Xv=Xv, yv=yv, task=task, classes=classes, hp=hp, seed=int(cfg.get("seed", 0)), n_jobs=n_jobs)
    return prepared, inputs, fitted


def run(ctx: JobContext) -> None:
    """Train one built-in algorithm (the job's entrypoint)."""
    from forgeml.registry.package import save_model
    from forgeml.training import _trainers

    tr = TrainingRun(ctx)
    cfg = ctx.config
    folders = tr.download(ctx.workdir / "input" / "data")
    tr.reproducibility(["forgeml.training._builtin:run", cfg["algorithm"]], None)
    tr.phase("Training", "Training image download completed. Training in progress.")
    if cfg["algorithm"] == "deepar":
        return _run_deepar(tr, folders)
    data, inputs, fitted = _prepare(tr, folders)
    tr.rules.evaluate()
    checkpointer = Checkpointer(ctx, bool(cfg.get("checkpoint")), float(cfg.get("checkpoint_interval_seconds", 2.0)))
    try:
        model, extra = _trainers.TRAINERS[cfg["algorithm"]](tr, data, checkpointer)
    finally:
        tr.flush()  # the points of a failing run are kept too
    stopped_by = extra.get("stopped_by_rule")
    if data.task in ("binary", "multiclass") and data.Xv is not None:
        pred = model.predict_proba(data.Xv).argmax(axis=1)
        from forgeml.training._evaluate import misprediction_by_class

        tr.rules.facts["misprediction"] = misprediction_by_class(data.yv, pred, data.classes or [])
    tr.finish_rules()
    package = ctx.workdir / "model"
    if package.exists():
        import shutil

        shutil.rmtree(package)
    metrics = {k: v for k, v in tr.final.items() if k.startswith("validation:")} or dict(tr.final)
    save_model(
        model, package, task=data.task, inputs=inputs, target=cfg.get("target"), classes=data.classes,
        algorithm=cfg["algorithm"], recipe=fitted, metrics=metrics,
        extra={"training_job": ctx.name, "hyperparameters": data.hp, **extra},
    )  # fmt: skip
    tr.upload(package, packaged=True, extra={"task": data.task, **extra})
    if stopped_by:
        tr.stop_self(stopped_by)


def _run_deepar(tr: TrainingRun, folders: dict[str, Path]) -> None:
    """DeepAR: JSON Lines series in, a ``forecast`` package out (see ``_forecast``)."""
    import shutil

    from forgeml.registry.package import save_model
    from forgeml.training._forecast import quantiles, train_deepar
    from forgeml.training._forecast_data import check_freq, read_series

    ctx, cfg = tr.ctx, tr.config
    hp = cfg["hyperparameters"]
    check_freq(hp["time_freq"])
    quantiles(hp["test_quantiles"])
    lengths = {"context_length": hp["context_length"], "prediction_length": hp["prediction_length"]}
    train = read_series(folders["train"], label="train", **lengths)
    test = read_series(folders["test"], label="test", **lengths) if "test" in folders else None
    if test is not None and (len(test[0].cat), len(test[0].dynamic_feat)) != (len(train[0].cat), len(train[0].dynamic_feat)):
        raise ValidationError("test channel: series have other cat / dynamic_feat counts than the train channel")
    try:
        model, extra = train_deepar(tr, train, test, hp, int(cfg.get("seed", 0)), int(cfg.get("cpus") or os.cpu_count() or 1))
    finally:
        tr.flush()
    tr.finish_rules()
    inputs = [{"name": "start", "type": "str"}, {"name": "target", "type": "list"}]
    inputs += [{"name": n, "type": "list"} for n, k in (("cat", model.cards), ("dynamic_feat", model.n_feat)) if k]
    package = ctx.workdir / "model"
    if package.exists():
        shutil.rmtree(package)
    extra["quantiles"] = [f"{q:g}" for q in quantiles(hp["test_quantiles"])]
    save_model(
        model, package, task="forecast", inputs=inputs, algorithm="deepar", metrics=extra.get("test") or dict(tr.final),
        extra={"training_job": ctx.name, "hyperparameters": hp, **extra},
    )  # fmt: skip
    tr.upload(package, packaged=True, extra={"task": "forecast"})


__all__ = ["Checkpointer", "Prepared", "infer_task", "run"]
