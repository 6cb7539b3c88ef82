"""Demo stage ``training``: a small tuning job over XGBoost training jobs on the prepared loan splits.

Reads ``state["train"]`` / ``state["validation"]`` (dataset records), ``state["target"]``,
``state["feature_columns"]`` (raw input columns) and ``state["recipe"]`` (an unfitted recipe spec,
fitted by each job on the train channel and packaged with the model). Runs a Bayesian tuning job
(4 trials, 2 at a time) and writes, from its best trial, ``state["best_training_job"]``,
``state["model_dir"]`` (local model package folder, recipe inside) and ``state["model_artifact"]``
(its digest).
"""

from __future__ import annotations

import time
from typing import Any

HYPERPARAMETERS = {"num_round": 80, "max_depth": 4, "eta": 0.1, "subsample": 0.9, "early_stopping_rounds": 10}
TUNING = {
    "strategy": "Bayesian",
    "objective": {"metric": "validation:auc", "type": "Maximize"},
    "parameter_ranges": {
        "max_depth": {"type": "Integer", "min": 2, "max": 5},
        "eta": {"type": "Continuous", "min": 0.05, "max": 0.3, "scaling": "Logarithmic"},
    },
    "static_hyperparameters": {"num_round": 60, "subsample": 0.9, "early_stopping_rounds": 10},
    "max_jobs": 4,
    "max_parallel_jobs": 2,
    "random_seed": 0,
    "experiment": "loans",
}


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


def tune(ws: Any, state: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """Run the demo's tuning job (trials: the training jobs of :func:`train_one`); return its description."""
    name = name or f"loans-hpo-{time.strftime('%m%d-%H%M%S')}"
    training = {
        "algorithm": "xgboost", "channels": {"train": state["train"].ref, "validation": state["validation"].ref},
        "target": state["target"], "features": list(state["feature_columns"]), "recipe": state.get("recipe"),
        "rules": ["Overfit", "LossNotDecreasing", "ClassImbalance"], "max_runtime_seconds": 600, "seed": 0,
    }  # fmt: skip
    state.setdefault("cleanups", []).append(lambda: None if ws.jobs.get(name).is_terminal else ws.tuning.stop(name, wait=True, timeout=60))
    ws.tuning.create(name, {**TUNING, "training": training})
    return ws.tuning.wait(name, timeout=600)  # type: ignore[no-any-return]


def stage(ws: Any, state: dict[str, Any], say: Any) -> None:
    from forgeml.demo import pairs

    tuning = tune(ws, state)
    for t in tuning["trials"]:
        say(f"  trial {t['training_job']}: {t['status']}, validation auc {t['objective'] and round(t['objective'], 4)}, {pairs(t['params'])}")
    best = tuning["best_training_job"]
    info = ws.training.describe(best)
    final = {m["MetricName"]: round(m["Value"], 4) for m in info["FinalMetricDataList"]}
    state["best_training_job"] = best
    state["model_artifact"] = ws.training.model_artifact(best)
    state["model_dir"] = ws.training.model_dir(best)
    rules = {r["RuleConfigurationName"]: r["RuleEvaluationStatus"] for r in info["DebugRuleEvaluationStatuses"]}
    issues = {r["RuleConfigurationName"]: r["StatusDetails"] for r in info["DebugRuleEvaluationStatuses"]
              if r["RuleEvaluationStatus"] == "IssuesFound"}  # fmt: skip
    state["rule_issues"] = issues
    say(
        f"tuning job [bold]{tuning['name']}[/bold] ({tuning['strategy']}, {len(tuning['trials'])} trials): best "
        f"training job [bold]{best}[/bold], {info['Details'].get('iterations')} rounds "
        f"(best {info['Details'].get('best_iteration')}), validation auc {final.get('validation:auc')}, "
        f"logloss {final.get('validation:logloss')}; debugger rules: {pairs(rules)}"
    )
    for rule, details in issues.items():
        say(f"[yellow]warning: debugger rule {rule} found issues on {best}: {details}")
    state["summary"]["training"] = {
        "tuning_job": tuning["name"],
        "trials": [{"job": t["training_job"], "status": t["status"], "validation:auc": t["objective"], **t["params"]} for t in tuning["trials"]],
        "job": best,
        "hyperparameters": {k: v for k, v in info["HyperParameters"].items() if k in ("num_round", "max_depth", "eta", "subsample")},
        "algorithm": "xgboost",
        "validation": {k: v for k, v in final.items() if k.startswith("validation:")},
        "best_iteration": info["Details"].get("best_iteration"),
        "rules": rules,
        "rule_issues": issues,
        "model_artifact": state["model_artifact"],
    }
