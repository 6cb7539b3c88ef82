"""XGBoost and LightGBM trainers: native per-iteration evaluation, early stopping, checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forgeml.training._evaluate import library_points
from forgeml.training._runtime import StopRequested

if TYPE_CHECKING:
    from forgeml.training._builtin import Checkpointer, Prepared
    from forgeml.training._runtime import TrainingRun

_XGB_METRICS = {"binary": ["auc", "error", "logloss"], "multiclass": ["merror", "mlogloss"], "regression": ["mae", "rmse"]}
_XGB_OBJECTIVE = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}
_LGB_METRICS = {
    "binary": ["binary_logloss", "auc", "binary_error"],
    "multiclass": ["multi_logloss", "multi_error"],
    "regression": ["rmse", "l1"],
}


def _eval_sets(d: Prepared) -> list[tuple[Any, Any]]:
    return [(d.X, d.y)] + ([(d.Xv, d.yv)] if d.Xv is not None else [])


def train_xgboost(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """XGBoost through its scikit-learn API (so the package holds a real XGBClassifier/Regressor)."""
    import xgboost as xgb

    hp = d.hp
    total = hp["num_round"]
    state = ck.resumed()
    done = int(state["iteration"]) if state else 0
    init = str(ck.dir / "xgboost.json") if state else None
    if done:
        tr.ctx.log(f"[forgeml] resuming xgboost from iteration {done} of {total}")
    names = ["train", "validation"]

    class _Callback(xgb.callback.TrainingCallback):
        stopped: str | None = None
        last = done - 1

        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
            step = done + epoch
            self.last = step
            points: dict[str, float] = {}
            for i, (_, metrics) in enumerate(evals_log.items()):
                for name, values in metrics.items():
                    points.update(library_points(names[i], name, values[-1]))
            tr.metrics(points, step)
            tr.progress(step + 1, total)
            if step + 1 < total:
                ck.maybe_save(step + 1, lambda folder: model.save_model(str(folder / "xgboost.json")))
            try:
                tr.check_rules()
            except StopRequested as stop:
                self.stopped = str(stop)
                return True
            return False

    callback = _Callback()
    cls = xgb.XGBRegressor if d.task == "regression" else xgb.XGBClassifier
    es = hp["early_stopping_rounds"] if d.Xv is not None else None
    model = cls(
        n_estimators=total - done, objective=hp["objective"] or _XGB_OBJECTIVE[d.task],
        eval_metric=_XGB_METRICS[d.task], early_stopping_rounds=es, callbacks=[callback],
        learning_rate=hp["eta"], max_depth=hp["max_depth"], min_child_weight=hp["min_child_weight"],
        subsample=hp["subsample"], colsample_bytree=hp["colsample_bytree"], gamma=hp["gamma"],
        reg_alpha=hp["alpha"], reg_lambda=hp["lambda"], scale_pos_weight=hp["scale_pos_weight"],
        max_delta_step=hp["max_delta_step"], tree_method=hp["tree_method"], random_state=d.seed, n_jobs=d.n_jobs,
    )  # fmt: skip
    model.fit(d.X, d.y, eval_set=_eval_sets(d), verbose=False, xgb_model=init)
    model.callbacks = None  # the callback holds the job context: never pickle it (set_params would reach the booster)
    tr.progress(callback.last + 1, total, force=True)
    extra: dict[str, Any] = {"iterations": callback.last + 1, "resumed_from_iteration": done or None}
    if es:
        extra["best_iteration"] = int(model.best_iteration)
    if callback.stopped:
        extra["stopped_by_rule"] = callback.stopped
    return model, extra


def train_lightgbm(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """LightGBM through its scikit-learn API."""
    import lightgbm as lgb

    hp = d.hp
    total = hp["num_boost_round"]
    state = ck.resumed()
    done = int(state["iteration"]) if state else 0
    init = str(ck.dir / "lightgbm.txt") if state else None
    if done:
        tr.ctx.log(f"[forgeml] resuming lightgbm from iteration {done} of {total}")
    metrics = list(_LGB_METRICS[d.task])
    if hp["metric"] != "auto":
        metrics = [hp["metric"], *[m for m in metrics if m != hp["metric"]]]
    info: dict[str, Any] = {"last": done - 1, "stopped": None}

    def record(env: Any) -> None:
        step = env.iteration
        info["last"] = step
        points: dict[str, float] = {}
        for channel, name, value, _ in env.evaluation_result_list:
            points.update(library_points(channel, name, value))
        tr.metrics(points, step)
        tr.progress(step + 1, total)
        if step + 1 < total:
            ck.maybe_save(step + 1, lambda folder: env.model.save_model(str(folder / "lightgbm.txt")))
        try:
            tr.check_rules()
        except StopRequested as stop:
            info["stopped"] = str(stop)
            raise lgb.callback.EarlyStopException(step, env.evaluation_result_list) from None

    record.order = 5  # type: ignore[attr-defined]
    callbacks = [record]
    es = hp["early_stopping_rounds"]
    if d.Xv is not None and es > 0:
        callbacks.append(lgb.early_stopping(es, first_metric_only=True, verbose=False))
    cls = lgb.LGBMRegressor if d.task == "regression" else lgb.LGBMClassifier
    model = cls(
        n_estimators=total - done, learning_rate=hp["learning_rate"], num_leaves=hp["num_leaves"],
        colsample_bytree=hp["feature_fraction"], subsample=hp["bagging_fraction"], subsample_freq=hp["bagging_freq"],
        max_depth=hp["max_depth"], min_child_samples=hp["min_data_in_leaf"], reg_alpha=hp["lambda_l1"],
        reg_lambda=hp["lambda_l2"], min_split_gain=hp["min_gain_to_split"], boosting_type=hp["boosting"],
        metric=metrics, random_state=d.seed, n_jobs=d.n_jobs, verbose=-1,
    )  # fmt: skip
    eval_names = ["train", "validation"][: len(_eval_sets(d))]
    model.fit(d.X, d.y, eval_set=_eval_sets(d), eval_names=eval_names, callbacks=callbacks, init_model=init)
    tr.progress(info["last"] + 1, total, force=True)
    extra: dict[str, Any] = {"iterations": info["last"] + 1, "resumed_from_iteration": done or None}
    if d.Xv is not None and es > 0 and model.best_iteration_:
        extra["best_iteration"] = int(model.best_iteration_) - 1
    if info["stopped"]:
        extra["stopped_by_rule"] = info["stopped"]
    return model, extra


__all__ = ["train_lightgbm", "train_xgboost"]
