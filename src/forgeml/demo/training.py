"""Demo stage ``training``: one XGBoost training job on the prepared loan splits.

Reads ``state["train"]`` / ``state["validation"]`` (dataset records), ``state["target"]``,
``state["feature_columns"]`` (raw input columns) and ``state["recipe"]`` (an unfitted recipe spec,
fitted by the job on the train channel and packaged with the model). Writes
``state["best_training_job"]``, ``state["model_dir"]`` (local model package folder, recipe inside)
and ``state["model_artifact"]`` (its digest).
"""

from __future__ import annotations

from typing import Any

HYPERPARAMETERS = {"num_round": 80, "max_depth": 4, "eta": 0.1, "subsample": 0.9, "early_stopping_rounds": 10}


def train_one(ws: Any, state: dict[str, Any], hyperparameters: dict[str, Any], name: str | None = None) -> Any:
    """Train one XGBoost model on the demo splits and wait for it (raises unless it completed)."""
    train, valid = state["train"], state["validation"]
    return ws.training.create(
        name,
        algorithm="xgboost",
        channels={"train": train.ref, "validation": valid.ref},
        target=state["target"],
        features=list(state["feature_columns"]),
        recipe=state.get("recipe"),
        hyperparameters=hyperparameters,
        rules=["Overfit", "LossNotDecreasing", "ClassImbalance"],
        max_runtime_seconds=600,
        seed=0,
        wait=True,
    )


def stage(ws: Any, state: dict[str, Any], say: Any) -> None:
    job = train_one(ws, state, HYPERPARAMETERS)
    info = ws.training.describe(job.name)
    final = {m["MetricName"]: round(m["Value"], 4) for m in info["FinalMetricDataList"]}
    state["best_training_job"] = job.name
    state["model_artifact"] = ws.training.model_artifact(job.name)
    state["model_dir"] = ws.training.model_dir(job.name)
    rules = {r["RuleConfigurationName"]: r["RuleEvaluationStatus"] for r in info["DebugRuleEvaluationStatuses"]}
    say(
        f"training job [bold]{job.name}[/bold]: {job.status}, {info['Details'].get('iterations')} rounds "
        f"(best {info['Details'].get('best_iteration')}), validation auc {final.get('validation:auc')}, "
        f"logloss {final.get('validation:logloss')}; rules {rules}"
    )
    state["summary"]["training"] = {
        "job": job.name,
        "algorithm": "xgboost",
        "validation": {k: v for k, v in final.items() if k.startswith("validation:")},
        "best_iteration": info["Details"].get("best_iteration"),
        "rules": rules,
        "model_artifact": state["model_artifact"],
    }
