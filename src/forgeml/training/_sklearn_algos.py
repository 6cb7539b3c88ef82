"""scikit-learn built-ins: linear learner (SGD), random forest, k-means, isolation forest, k-NN."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.training._evaluate import evaluate, regression
from forgeml.training._runtime import StopRequested

if TYPE_CHECKING:
    from forgeml.training._builtin import Checkpointer, Prepared
    from forgeml.training._runtime import TrainingRun


def _emit(tr: TrainingRun, d: Prepared, model: Any, step: int) -> dict[str, float]:
    points = evaluate(d.task, model, d.X, d.y, "train")
    if d.Xv is not None:
        points.update(evaluate(d.task, model, d.Xv, d.yv, "validation"))
    tr.metrics(points, step)
    return points


def _load(ck: Checkpointer) -> Any:
    import joblib

    return joblib.load(ck.dir / "model.joblib")


def _dump(obj: Any) -> Any:
    import joblib

    return lambda folder: joblib.dump(obj, folder / "model.joblib")


def train_linear(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """Linear (regressor) or logistic (classifiers) regression, one SGD epoch per iteration."""
    from sklearn.linear_model import SGDClassifier, SGDRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    hp = d.hp
    # fitted on the frame (names kept), it hands SGD plain arrays: an identity when not normalizing
    on = hp["normalize_data"]
    scaler = StandardScaler(with_mean=on, with_std=on).fit(d.X.astype(float))
    Xs = scaler.transform(d.X.astype(float))
    penalty = hp["l1"] + hp["wd"]
    common = dict(
        penalty="elasticnet", alpha=penalty or 1e-12, l1_ratio=(hp["l1"] / penalty) if penalty else 0.0,
        learning_rate="invscaling", eta0=hp["learning_rate"], random_state=d.seed,
    )  # fmt: skip
    if d.task == "regression":
        sgd: Any = SGDRegressor(loss="squared_error", **common)
    else:
        sgd = SGDClassifier(loss="log_loss", **common)
    state = ck.resumed()
    start, best, best_loss, since = 0, None, np.inf, 0
    if state:
        saved = _load(ck)
        sgd, scaler, best, start = saved["sgd"], saved["scaler"], saved["best"], state["iteration"]
        best_loss, since = state["best_loss"], state["since"]
        tr.ctx.log(f"[forgeml] resuming linear-learner from epoch {start}")
    rng = np.random.default_rng(d.seed)
    for _ in range(start):  # keep the shuffles of a resumed job identical to an uninterrupted one
        rng.permutation(len(Xs))
    loss_key = "validation:rmse" if d.task == "regression" else "validation:logloss"
    classes = np.arange(len(d.classes or []))
    extra: dict[str, Any] = {"resumed_from_iteration": start or None}
    epoch = start - 1
    for epoch in range(start, hp["epochs"]):
        order = rng.permutation(len(Xs))
        for lo in range(0, len(order), hp["mini_batch_size"]):
            idx = order[lo : lo + hp["mini_batch_size"]]
            if d.task == "regression":
                sgd.partial_fit(Xs[idx], d.y[idx])
            else:
                sgd.partial_fit(Xs[idx], d.y[idx], classes=classes)
        model = Pipeline([("scale", scaler), ("linear", sgd)])
        points = _emit(tr, d, model, epoch)
        tr.progress(epoch + 1, hp["epochs"])
        loss = points.get(loss_key)
        if loss is not None:
            if loss < best_loss * (1 - hp["early_stopping_tolerance"]) or best is None:
                best, best_loss, since = copy.deepcopy(sgd), loss, 0
            else:
                since += 1
        else:
            best = copy.deepcopy(sgd)
        ck.maybe_save(epoch + 1, _dump({"sgd": sgd, "scaler": scaler, "best": best}), best_loss=float(best_loss), since=since)
        try:
            tr.check_rules()
        except StopRequested as stop:
            extra["stopped_by_rule"] = str(stop)
            break
        if loss is not None and since >= hp["early_stopping_patience"]:
            tr.ctx.log(f"[forgeml] early stopping at epoch {epoch}: {loss_key} has not improved for {since} epochs")
            break
    extra["iterations"] = epoch + 1
    return Pipeline([("scale", scaler), ("linear", best if best is not None else sgd)]), extra


def train_random_forest(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """A random forest grown ``trees_per_iteration`` trees at a time (warm start)."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    hp = d.hp
    cls = RandomForestRegressor if d.task == "regression" else RandomForestClassifier
    model = cls(
        n_estimators=0, warm_start=True, max_depth=hp["max_depth"], min_samples_leaf=hp["min_samples_leaf"],
        max_features=None if hp["max_features"] == "all" else hp["max_features"], random_state=d.seed, n_jobs=d.n_jobs,
    )  # fmt: skip
    state = ck.resumed()
    if state:
        model = _load(ck)
        tr.ctx.log(f"[forgeml] resuming random-forest from {model.n_estimators} trees")
    total = hp["num_trees"]
    step_size = hp["trees_per_iteration"]
    iterations = -(-total // step_size)
    extra: dict[str, Any] = {"resumed_from_iteration": (model.n_estimators // step_size) or None}
    for it in range(model.n_estimators // step_size, iterations):
        model.set_params(n_estimators=min(total, (it + 1) * step_size))
        model.fit(d.X, d.y)
        _emit(tr, d, model, it)
        tr.progress(it + 1, iterations)
        ck.maybe_save(it + 1, _dump(model))
        try:
            tr.check_rules()
        except StopRequested as stop:
            extra["stopped_by_rule"] = str(stop)
            break
    extra["iterations"] = -(-model.n_estimators // step_size)
    return model, extra


def train_kmeans(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """k-means; reports the mean squared distance to the nearest centre (SageMaker's ``msd``)."""
    from sklearn.cluster import KMeans

    hp = d.hp
    if hp["k"] > len(d.X):
        from forgeml.errors import ValidationError

        raise ValidationError(f"k = {hp['k']} is larger than the {len(d.X)} training rows")
    model = KMeans(
        n_clusters=hp["k"], init="k-means++" if hp["init_method"] == "kmeans++" else "random",
        max_iter=hp["max_iterations"], n_init=hp["local_init_runs"], random_state=d.seed,
    ).fit(d.X)  # fmt: skip
    for channel, X in (("train", d.X), ("validation", d.Xv)):
        if X is not None:
            dist = model.transform(X).min(axis=1)
            tr.metric(f"{channel}:msd", float(np.mean(dist**2)), 0)
            tr.metric(f"{channel}:ssd", float(np.sum(dist**2)), 0)
    return model, {"iterations": int(model.n_iter_)}


def train_isolation_forest(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """Isolation forest; with labels on the validation channel, reports the AUC of its scores."""
    from sklearn.ensemble import IsolationForest

    hp = d.hp
    model = IsolationForest(
        n_estimators=hp["num_trees"], max_samples=min(hp["num_samples_per_tree"], len(d.X)),
        max_features=hp["feature_fraction"], random_state=d.seed, n_jobs=d.n_jobs,
    ).fit(d.X)  # fmt: skip
    tr.metric("train:mean_anomaly_score", float(np.mean(-model.score_samples(d.X))), 0)
    if d.Xv is not None:
        scores = -model.score_samples(d.Xv)
        tr.metric("validation:mean_anomaly_score", float(np.mean(scores)), 0)
        if d.yv is not None and len(np.unique(d.yv)) == 2:
            from sklearn.metrics import roc_auc_score

            tr.metric("validation:auc", float(roc_auc_score(d.yv, scores)), 0)
    return model, {}


def train_knn(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """k-nearest neighbours on (by default) standardized features."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    hp = d.hp
    k = min(hp["k"], len(d.X))
    cls = KNeighborsRegressor if d.task == "regression" else KNeighborsClassifier
    steps = [StandardScaler()] if hp["normalize_data"] else []
    model = make_pipeline(*steps, cls(n_neighbors=k, weights=hp["weights"], n_jobs=d.n_jobs)).fit(d.X, d.y)
    if d.task == "regression":
        for channel, X, y in (("train", d.X, d.y), ("validation", d.Xv, d.yv)):
            if X is not None:
                for key, value in regression(y, model.predict(X), channel).items():
                    tr.metric(key, value, 0)
    else:
        _emit(tr, d, model, 0)
    return model, {}


__all__ = ["train_isolation_forest", "train_kmeans", "train_knn", "train_linear", "train_random_forest"]
