"""Demo stage ``monitoring``: watch the deployed model's traffic (Model Monitor) and estimate its
performance before the labels arrive (CBPE).

Reads ``state["train"]``, ``state["validation"]``, ``state["test"]`` (dataset records),
``state["target"]`` and ``state["model_version"]``; needs the endpoint ``loans`` the serving
stage leaves running with 100 % data capture. Steps:

1. a data-quality baseline of the training rows (the model's input columns);
2. in-distribution traffic: the validation rows, whose labels are uploaded as ground truth; a
   CBPE reference is fitted on them (captured probabilities + labels);
3. the data-quality monitor on that window, then a batch with a realistic shift (the test rows
   with income in the wrong unit, x1000, and a consumer-credit grade training never saw) and the
   monitor again, printing the violations. All demo traffic falls in one capture hour, so the
   second window holds both batches, as an hourly schedule would see that hour;
4. a model-quality execution with the CBPE estimator before the shifted batch's labels arrive,
   then again after: the realized metrics beside the estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forgeml.serving._demo import ENDPOINT

BATCH = 50
SHIFTED_GRADE = 9  # ``cons`` runs 1..6 in the data


def _send(ws: Any, frame: Any, prefix: str) -> list[str]:
    """Invoke the endpoint with ``frame`` as CSV, BATCH rows a request; the inference ids."""
    ids = []
    for k, start in enumerate(range(0, len(frame), BATCH)):
        inference_id = f"{prefix}-{k:04d}"
        body = frame.iloc[start : start + BATCH].to_csv(header=False, index=False)
        ws.endpoints.invoke(ENDPOINT, body, content_type="text/csv", inference_id=inference_id)
        ids.append(inference_id)
    return ids


def _ground_truth(ids: list[str], labels: list[int]) -> list[dict[str, Any]]:
    return [{"groundTruthData": {"data": ",".join(str(int(v)) for v in labels[k * BATCH : (k + 1) * BATCH]), "encoding": "CSV"},
             "eventMetadata": {"eventId": i}, "eventVersion": "0"} for k, i in enumerate(ids)]  # fmt: skip


def _violations(ws: Any, run: Any, say: Callable[[str], None], title: str) -> list[str]:
    found = ws.monitoring.violations(run)["violations"]
    say(f"{title}: [bold]{run.status}[/bold], {run.data['item_count']} rows, {len(found)} violation(s)")
    lines = [f"{v.get('feature_name') or v.get('metric_name')}: {v['constraint_check_type']}" for v in found]
    for v in found[:8]:
        say(f"  {v.get('feature_name') or v.get('metric_name')} {v['constraint_check_type']}: {v['description'][:110]}")
    return lines


def _side_by_side(ws: Any, run: Any, say: Callable[[str], None]) -> dict[str, Any]:
    stats = ws.monitoring.statistics(run, kind="monitoring-execution")
    est = stats["binary_classification_estimates"]
    say(f"CBPE over {est['item_count']} captured rows, {est['labelled_item_count']} with ground truth:")
    out: dict[str, Any] = {"rows": est["item_count"], "labelled_rows": est["labelled_item_count"], "metrics": {}}
    for metric in ("roc_auc", "accuracy", "f1", "precision", "recall"):
        v = est["metrics"][metric]
        realized = "no labels yet" if v["realized"] is None else f"{v['realized']:.3f}"
        if v.get("estimated_on_labelled") is not None:
            realized += f" (labelled rows; their estimate {v['estimated_on_labelled']:.3f})"
        band = "" if v["lower_confidence_boundary"] is None else f" [{v['lower_confidence_boundary']:.3f}, {v['upper_confidence_boundary']:.3f}]"
        verdict = {None: "", True: " (in band)", False: " (OUTSIDE the band)"}[v.get("agrees")]
        say(f"  {metric:<9} estimated {v['estimated']:.3f}{band}  realized {realized}{verdict}{'  ALERT' if v['alert'] else ''}")
        out["metrics"][metric] = {"estimated": round(v["estimated"], 4), "realized": None if v["realized"] is None else round(v["realized"], 4),
                       "agrees": v.get("agrees"), "alert": v["alert"]}  # fmt: skip
    return out


def stage(ws: Any, state: dict[str, Any], say: Callable[[str], None]) -> None:
    from forgeml.demo.serving import model_reference
    from forgeml.registry.package import read_manifest

    target = state["target"]
    columns = read_manifest(ws.registry.download(model_reference(state))).feature_names
    train = ws.datasets.read(state["train"].name, state["train"].version)
    validation = ws.datasets.read(state["validation"].name, state["validation"].version)
    test = ws.datasets.read(state["test"].name, state["test"].version)

    base = ws.monitoring.baseline(train[columns], name="loans-inputs")
    say(f"baseline [bold]{base.ref}[/bold]: {base.data['item_count']} training rows, {base.data['features']} input columns")

    ids = _send(ws, validation[columns], "in-dist")
    ws.monitoring.upload_ground_truth(ENDPOINT, _ground_truth(ids, validation[target].astype(int).tolist()))
    reference = ws.monitoring.cbpe_baseline(endpoint=ENDPOINT, name="loans-cbpe")
    say(f"CBPE reference [bold]{reference.ref}[/bold] from {reference.data['item_count']} labelled requests "
        f"(calibrated: {'yes' if reference.data['calibrated'] else 'no, already calibrated'})")
    first = ws.monitoring.check(base, endpoint=ENDPOINT, name="loans-data-quality")
    in_dist = _violations(ws, first, say, "window 1, in-distribution traffic")

    shifted = test[columns].copy()
    shifted["appinc"] = shifted["appinc"] * 1000  # income sent in dollars instead of thousands
    shifted.loc[shifted.index[::2], "cons"] = SHIFTED_GRADE
    shifted_ids = _send(ws, shifted, "shifted")
    second = ws.monitoring.check(base, endpoint=ENDPOINT, name="loans-data-quality")
    with_shift = _violations(ws, second, say, "window 2, with the shifted batch")

    before = ws.monitoring.model_quality(ENDPOINT, problem_type="BinaryClassification", estimator=reference.ref, name="loans-quality")
    estimate = _side_by_side(ws, before, say)
    ws.monitoring.upload_ground_truth(ENDPOINT, _ground_truth(shifted_ids, test[target].astype(int).tolist()))
    after = ws.monitoring.model_quality(ENDPOINT, problem_type="BinaryClassification", estimator=reference.ref, name="loans-quality")
    say("the shifted batch's labels arrive:")
    side = _side_by_side(ws, after, say)
    broken = [m for m, v in side["metrics"].items() if v["agrees"] is False]
    if broken:
        say(f"realized {', '.join(broken)} outside the estimate's band: CBPE assumes P(approve | inputs) did not change, and an "
            "income sent in the wrong unit breaks that (the labels did not follow the inputs)")
    else:
        say("every realized metric lies in its estimate's band: the estimate held through the shift")
    state["summary"]["monitoring"] = {
        "baseline": base.ref, "cbpe_reference": reference.ref,
        "data_quality": [{"execution": first.ref, "status": first.status, "violations": len(in_dist)},
                         {"execution": second.ref, "status": second.status, "violations": len(with_shift)}],
        "violations": with_shift, "estimate_before_labels": estimate, "estimate_vs_realized": side,
        "model_quality": after.ref,
    }  # fmt: skip
