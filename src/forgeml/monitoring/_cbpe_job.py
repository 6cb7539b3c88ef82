"""CBPE inside the ModelQuality monitor: the reference job and a window's estimate.

* :func:`cbpe_baseline_job` (kind ``monitoring``) fits :func:`forgeml.monitoring._cbpe.fit` on a
  labelled reference (a frame/file/dataset with label, score and optional prediction columns, or
  an endpoint's captures merged with their ground truth) and stores it as a
  ``monitoring-baseline`` with ``spec.monitoring_type == "ModelQuality"``: ``statistics.json``
  (the realized reference metrics) and ``cbpe.json`` (calibration, sampling-error components,
  alert thresholds).
* :func:`window_estimate` is called by the model-quality execution when it names an
  ``estimator``: it reads *every* captured prediction of the window (labelled or not), estimates
  the metrics and puts the realized value of the rows that have ground truth beside each, with
  ``agrees``: whether that realized value lies in the ±3 sampling-error band of the estimate of
  the same rows (``estimated_on_labelled`` when only some rows have labels yet).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ValidationError
from forgeml.evaluation._store import json_bytes, jsonable, read_document, store_result
from forgeml.monitoring._jobs import BASELINE_KIND, _write

if TYPE_CHECKING:
    from forgeml.core.jobs import JobContext
    from forgeml.core.workspace import Workspace

MODEL_NAMESPACE = "forgeml/monitoring/model-metrics"


def _predicted(pred: list[str], score: list[float], threshold: float | None) -> np.ndarray:
    if threshold is not None:
        return (np.asarray(score) >= threshold).astype(int)
    try:
        return np.asarray([int(float(v)) for v in pred])
    except ValueError:
        raise ValidationError("predictions must be 0 or 1 (or give probability_threshold)") from None


def _reference_rows(ctx: JobContext) -> tuple[list[Any], list[str], list[float]]:
    from forgeml.monitoring import _ground_truth as gt
    from forgeml.monitoring._capture_read import capture_files
    from forgeml.monitoring._sources import batches, parse_time

    cfg, ws = ctx.config, ctx.workspace
    source, cols = cfg["source"], cfg["columns"]
    if source["kind"] == "capture":
        files = capture_files(Path(source["root"]), parse_time(source.get("start"), "start_time"),
                              parse_time(source.get("end"), "end_time"), source.get("variant"))  # fmt: skip
        ys, preds, probs = gt.merge(files, gt.read(gt.root(ws, source["endpoint"])), cols["prediction"] or "predicted_label",
                                    cols["probability"], gt.MergeCounts(), ws.artifacts.envelope)  # fmt: skip
        keep = [i for i, p in enumerate(probs) if p is not None]
        if ys and not keep:
            raise ValidationError(f"reference: no captured output holds a {cols['probability']!r} probability")
        return [ys[i] for i in keep], [preds[i] for i in keep], [float(probs[i]) for i in keep]  # type: ignore[arg-type]
    ys, preds, probs = [], [], []
    for batch in batches(ws, source):
        for key in ("label", "probability", "prediction"):
            if cols[key] and cols[key] not in batch.columns:
                raise ValidationError(f"reference: no column {cols[key]!r} ({key}); columns are {', '.join(map(str, batch.columns))}")
        ys.extend(batch[cols["label"]].tolist())
        probs.extend(batch[cols["probability"]].astype(float).tolist())
        preds.extend(batch[cols["prediction"]].tolist() if cols["prediction"] else [None] * len(batch))
    return ys, preds, probs


def cbpe_baseline_job(ctx: JobContext) -> None:
    """Fit CBPE on the reference, store it."""
    from forgeml.monitoring import _cbpe

    cfg = ctx.config
    ctx.set_secondary_status("Calibrating")
    ys, preds, probs = _reference_rows(ctx)
    if not ys:
        raise ValidationError("reference: no labelled rows (for captures: upload their ground truth first)")
    threshold = cfg.get("probability_threshold")
    if cfg["columns"]["prediction"] is None and cfg["source"]["kind"] != "capture" and threshold is None:
        threshold = 0.5
    pred = _predicted([str(p) for p in preds], probs, threshold)
    try:
        y = np.asarray([int(float(v)) for v in ys])
    except ValueError:
        raise ValidationError("reference ground truth must be 0 or 1") from None
    model = _cbpe.fit(y, pred, np.asarray(probs), cfg.get("chunks") or _cbpe.DEFAULT_CHUNKS)
    model["probability_threshold"] = threshold
    stats = {"version": 0.0, "dataset": {"item_count": len(y)}, "binary_classification_metrics":
             {m: {"value": v, "standard_deviation": "NaN"} for m, v in model["realized"].items()}}  # fmt: skip
    files = {"statistics.json": json_bytes(jsonable(stats)), "cbpe.json": json_bytes(jsonable(model))}
    _write(ctx.workdir / "output", files)
    record = store_result(
        ctx.workspace, BASELINE_KIND, cfg["name"],
        spec={"monitoring_type": "ModelQuality", "estimator": "CBPE", "source": cfg["source"], "columns": cfg["columns"],
              "job": ctx.name},
        data=jsonable({"item_count": len(y), "calibrated": model["calibrated"], "realized": model["realized"]}),
        documents={"statistics": (files["statistics.json"], "application/json"),
                   "cbpe": (files["cbpe.json"], "application/json")},
        inputs={"baselined": cfg.get("source_ref")}, tags=cfg.get("tags"),
    )  # fmt: skip
    ctx.add_output(record.ref)
    ctx.log(f"CBPE reference {record.ref}: {len(y)} labelled rows, calibrated {model['calibrated']}")


def load_model(ws: Workspace, ref: str) -> dict[str, Any]:
    """The ``cbpe.json`` of a CBPE reference.

    Raises:
        NotFoundError: no such baseline. ValidationError: a baseline that is not a CBPE reference.
    """
    from forgeml.evaluation._store import get_record

    record = get_record(ws, BASELINE_KIND, ref)
    if record.spec.get("estimator") != "CBPE":
        raise ValidationError(f"estimator: {record.ref} is not a CBPE reference (make one with ws.monitoring.cbpe_baseline)")
    model: dict[str, Any] = json.loads(read_document(ws, record, "cbpe"))
    return model


def _window_rows(files: list[Path], labels: dict[str, list[str]], inference: str, probability: str | None,
                 envelope: Any) -> tuple[list[str], list[float | None], list[str | None]]:  # fmt: skip
    from forgeml.monitoring._ground_truth import _join_id, _predictions, _records

    preds: list[str] = []
    probs: list[float | None] = []
    truth: list[str | None] = []
    for path in files:
        for record in _records(path, envelope):
            predicted = _predictions((record.get("captureData") or {}).get("endpointOutput"), inference, probability)
            if predicted is None:
                continue
            found = labels.get(_join_id(record))
            rows = found if found is not None and len(found) == len(predicted) else [None] * len(predicted)
            preds.extend(p for p, _ in predicted)
            probs.extend(q for _, q in predicted)
            truth.extend(rows)
    return preds, probs, truth


def window_estimate(ws: Workspace, mq: dict[str, Any], files: list[Path], labels: dict[str, list[str]]) -> dict[str, Any]:
    """The ``binary_classification_estimates`` block of one window (see the module docstring)."""
    from forgeml.monitoring import _cbpe

    model = load_model(ws, mq["estimator"])
    probability = mq.get("probability_attribute") or "probability"
    preds, probs, truth = _window_rows(files, labels, mq.get("inference_attribute") or "predicted_label", probability,
                                       ws.artifacts.envelope)  # fmt: skip
    keep = [i for i, p in enumerate(probs) if p is not None]  # e.g. a CSV answer without the probability column
    if probs and not keep:
        raise ValidationError(f"CBPE: no captured output of the window holds a {probability!r} probability (set probability_attribute)")
    skipped = len(probs) - len(keep)
    preds, probs, truth = [preds[i] for i in keep], [probs[i] for i in keep], [truth[i] for i in keep]
    block: dict[str, Any] = {"estimator": "CBPE", "reference": mq["estimator"], "calibrated": model["calibrated"],
                             "item_count": len(probs), "labelled_item_count": sum(t is not None for t in truth),
                             "rows_without_probability": skipped}  # fmt: skip
    if not probs:
        block["metrics"] = {}
        return block
    score = np.asarray(probs, dtype=float)
    pred = _predicted(preds, score.tolist(), mq.get("probability_threshold"))
    block["metrics"] = _cbpe.estimate(model, pred, score)
    known = np.asarray([t is not None for t in truth])
    for v in block["metrics"].values():
        v["agrees"] = None
    if known.any():
        y = np.asarray([int(float(t)) for t in truth if t is not None])
        real = _cbpe.realized(y, pred[known], score[known])
        # judged on the same rows: the estimate of the labelled rows alone when only some are
        same = block["metrics"] if known.all() else _cbpe.estimate(model, pred[known], score[known])
        for m, value in real.items():
            v = block["metrics"][m]
            v["realized"] = None if value != value else value
            if not known.all():
                v["estimated_on_labelled"] = same[m]["estimated"]
            v["agrees"] = agrees(same[m], v["realized"])
    return block


def agrees(estimate: dict[str, Any], realized: float | None) -> bool | None:
    """Whether ``realized`` lies in the estimate's ±3 sampling-error band (None: no labels yet)."""
    low, high = estimate.get("lower_confidence_boundary"), estimate.get("upper_confidence_boundary")
    if realized is None or low is None or high is None:
        return None
    return bool(low <= realized <= high)


def alerts(block: dict[str, Any]) -> list[dict[str, Any]]:
    """constraint_violations.json entries for estimates outside the reference thresholds."""
    out = []
    for m, v in (block.get("metrics") or {}).items():
        if v.get("alert"):
            below = v["lower_threshold"] is not None and v["estimated"] < v["lower_threshold"]
            op, bound = ("LessThanThreshold", v["lower_threshold"]) if below else ("GreaterThanThreshold", v["upper_threshold"])
            out.append({"metric_name": f"estimated_{m}", "constraint_check_type": op,
                        "description": f"CBPE estimated {m} {v['estimated']:.4g} is {'below' if below else 'above'} the reference "
                                       f"{'lower' if below else 'upper'} threshold {bound:.4g} (no labels needed)"})  # fmt: skip
    return out


def estimate_metrics(block: dict[str, Any]) -> dict[str, float]:
    """``estimated_<m>`` and ``estimated_<m>_sampling_error`` values to publish."""
    out = {}
    for m, v in (block.get("metrics") or {}).items():
        if v.get("estimated") is not None:
            out[f"estimated_{m}"] = float(v["estimated"])
        if v.get("sampling_error") is not None:
            out[f"estimated_{m}_sampling_error"] = float(v["sampling_error"])
    return out


__all__ = ["MODEL_NAMESPACE", "agrees", "alerts", "cbpe_baseline_job", "estimate_metrics", "load_model", "window_estimate"]
