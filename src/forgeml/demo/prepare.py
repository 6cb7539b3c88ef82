"""Demo stage "prepare": profile, validate, scan for PII, define the recipe, split.

Reads ``state["raw"]`` (dataset ``loans``), ``state["target"]``, ``state.get("id_column")``.
Sets ``state["train"]``, ``state["validation"]``, ``state["test"]`` (dataset records holding every
raw column, facets included, so bias can be measured later), ``state["feature_columns"]`` (model
inputs: no outcome leaks, no protected attributes) and ``state["recipe"]`` (unfitted spec).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Applicant and loan characteristics known when the application is filed. Left out on purpose:
# the outcome and its restatements (approve, reject, action) and the protected attributes
# (black, hispan, white, male), which stay in the split datasets for bias measurement.
NUMERIC = ["loanamt", "appinc", "loanprc", "hrat", "obrat", "unem", "dep", "netw", "liq"]
FLAGS = ["married", "self", "pubrec", "gdlin"]
CATEGORICAL = ["cons", "mortg"]  # consumer / mortgage credit-history grades, 1..6 and 1..4
FEATURES = NUMERIC + FLAGS + CATEGORICAL

RECIPE: dict[str, Any] = {
    "name": "loans-prep",
    "steps": [
        {"type": "impute", "strategy": "median", "columns": NUMERIC + FLAGS},
        {"type": "outliers", "method": "quantile", "lower": 0.01, "upper": 0.99, "action": "clip", "columns": ["appinc", "netw", "liq", "loanamt"]},
        {"type": "scale", "method": "standard", "columns": NUMERIC},
        {"type": "encode", "method": "onehot", "handle_unknown": "ignore", "columns": CATEGORICAL},
    ],
}


def _rules(target: str, id_column: str | None) -> str:
    rules = [
        "RowCount > 1000",
        f'ColumnValues "{target}" in [0, 1]',
        'ColumnValues "black" in [0, 1]',
        'ColumnValues "gdlin" in [0, 1]',
        'ColumnValues "loanamt" between 1 and 1000',
        'ColumnValues "hrat" between 0 and 100',
        'Completeness "married" > 0.99',
        'Completeness "male" > 0.99',
    ]
    if id_column:
        rules[1:1] = [f'IsComplete "{id_column}"', f'IsUnique "{id_column}"']
    return "Rules = [\n    " + ",\n    ".join(rules) + "\n]"


def stage(ws: Any, state: dict[str, Any], say: Callable[[str], None]) -> None:
    from forgeml.data._prep_service import DataPrepService
    from forgeml.data.recipes import Recipe
    from forgeml.demo import keep_report, pairs

    svc = DataPrepService(ws)
    raw = state["raw"]
    target = state.get("target", "approve")
    summary: dict[str, Any] = {}

    prof = svc.profile(raw.name, raw.version, label=target)
    report = prof["report"]
    gaps = {c["name"]: c["missing"] for c in report["columns"] if c["missing"]}
    say(f"profiled {raw.ref}: {report['rows']} rows x {len(report['columns'])} columns in {report['seconds']} s; "
        f"missing values: {pairs(gaps)}; label {target}: {pairs(report['label']['counts'])} (imbalance {report['label']['imbalance_ratio']:.1f}:1)")  # fmt: skip
    profile_ref = f"{prof['record']['kind']}/{prof['record']['name']}:{prof['record']['version']}"
    summary["profile"] = {"record": profile_ref, "html": keep_report(ws, state, profile_ref), "missing": gaps}

    clean_name = f"{raw.name}-clean"
    validated = svc.validate(raw.name, _rules(target, state.get("id_column")), raw.version, clean_name=clean_name)
    checked = validated["report"]
    keep_report(ws, state, f"{validated['record']['kind']}/{validated['record']['name']}:{validated['record']['version']}")
    for rule in checked["rules"]:
        if rule["outcome"] == "Failed":
            say(f"  rule failed: {rule['rule']} ({rule['message']}; {rule.get('failed_rows', 0)} row(s))")
    quarantined = checked.get("quarantine") or {"rows": 0, "dataset": None}
    say(f"validated {len(checked['rules'])} DQDL rules: {checked['rules_passed']} passed, {checked['rules_failed']} failed; "
        f"{quarantined['rows']} row(s) quarantined to {quarantined['dataset']}, {checked['clean']['rows']} clean rows")  # fmt: skip
    summary["validation"] = {"passed": checked["rules_passed"], "failed": checked["rules_failed"],
                             "quarantined_rows": quarantined["rows"], "quarantine": quarantined["dataset"]}  # fmt: skip
    dataset = state.setdefault("summary", {}).get("dataset")
    if dataset is not None and quarantined["rows"]:  # the rows the rules set aside count as quarantined too
        dataset["quarantined"] = int(dataset.get("quarantined", 0)) + int(quarantined["rows"])
        dataset["quarantine"] = [*dataset.get("quarantine", []), quarantined["dataset"]]

    pii = svc.scan_pii(clean_name)["report"]
    if pii["pii_columns"]:
        protected = svc.protect_pii(clean_name, output=clean_name)
        say(f"PII found in {', '.join(pii['pii_columns'])}: protected into {protected['output']}")
    else:
        say(f"PII scan of {pii['rows']} rows x {len(pii['columns'])} columns found nothing (the loan data holds no direct identifiers); nothing to protect")
    summary["pii"] = {"columns": pii["pii_columns"], "entities": pii["summary"]}

    parts = svc.split(clean_name, method="stratified", fractions=(0.7, 0.15, 0.15), target=target, prefix=raw.name, seed=7)
    state["train"], state["validation"], state["test"] = parts["train"], parts["validation"], parts["test"]
    state["feature_columns"] = list(FEATURES)
    state["recipe"] = RECIPE
    train = ws.datasets.read(parts["train"].name, parts["train"].version)
    fitted = Recipe.from_dict(RECIPE).fit(train[FEATURES])
    say(f"stratified split on {target}: " + ", ".join(f"{k} {r.data['rows']}" for k, r in parts.items())
        + f"; recipe {len(RECIPE['steps'])} steps, {len(FEATURES)} raw features -> {len(fitted.output_columns)} model inputs")  # fmt: skip
    summary["splits"] = {k: r.ref for k, r in parts.items()}
    summary["features"] = len(FEATURES)
    state.setdefault("summary", {})["prepare"] = summary


__all__ = ["FEATURES", "RECIPE", "stage"]
