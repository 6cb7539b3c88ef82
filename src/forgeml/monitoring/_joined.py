"""Window frames for the Clarify monitors, out of an endpoint's capture files.

* :func:`inputs` (ModelExplainability): the captured input rows, named by ``headers``.
* :func:`joined` (ModelBias): the input rows of each captured request that has ground truth,
  with its labels (``__label__``) and the predictions its output holds (``__prediction__``),
  joined as the model-quality merge joins them (inferenceId, else eventId).

Captured CSV values arrive as text: a column whose every present value reads as a number is
made numeric (so a facet threshold and FT's kNN work on it), as the model's input would be.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from forgeml.monitoring._bias import LABEL, PREDICTION, PROBABILITY

if TYPE_CHECKING:
    from forgeml.monitoring._capture_read import CaptureCounts
    from forgeml.monitoring._ground_truth import MergeCounts
    from forgeml.security import Envelope


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns whose present values all read as numbers become numeric."""
    out = {}
    for col in frame.columns:
        series = frame[col]
        numbers = pd.to_numeric(series, errors="coerce")
        out[col] = numbers if bool((numbers.notna() | series.isna()).all()) else series
    return pd.DataFrame(out, index=frame.index)


def inputs(files: list[Path], headers: list[str], envelope: Envelope | None, counts_out: dict[str, Any]) -> pd.DataFrame:
    """Every captured input row of ``files``; what the read skipped goes into ``counts_out``."""
    from forgeml.monitoring._capture_read import CaptureReader

    reader = CaptureReader(headers, envelope)
    frames = list(reader.read(files))
    counts: CaptureCounts = reader.counts
    counts_out.update(counts.to_dict())
    if not frames:
        return pd.DataFrame(columns=headers)
    return typed(pd.concat(frames, ignore_index=True))


def joined(files: list[Path], labels: dict[str, list[str]], headers: list[str], inference: str, probability: str | None,
           counts: MergeCounts, envelope: Envelope | None = None) -> pd.DataFrame:  # fmt: skip
    """The labelled rows of the window: inputs, ``__label__``, ``__prediction__`` (and
    ``__probability__`` when ``probability`` is given)."""
    from forgeml.monitoring import _ground_truth as gt
    from forgeml.monitoring._capture_read import CaptureReader

    reader = CaptureReader(headers, envelope)
    rows: list[dict[str, Any]] = []
    for path in files:
        counts.files += 1
        for record in gt._records(path, envelope):
            counts.records += 1
            truth = labels.get(gt._join_id(record))
            if truth is None:
                counts.records_without_ground_truth += 1
                continue
            predicted = gt._predictions((record.get("captureData") or {}).get("endpointOutput"), inference, probability)
            features = reader._rows(record)
            if predicted is None or not features:
                counts.unparsable_outputs += 1
                continue
            if not len(predicted) == len(truth) == len(features):
                counts.label_count_mismatch += 1
                continue
            counts.matched_records += 1
            for row, y, (p, q) in zip(features, truth, predicted, strict=True):
                rows.append(row | {LABEL: y, PREDICTION: p, PROBABILITY: q})
    counts.rows = len(rows)
    if not rows:
        return pd.DataFrame(columns=[*headers, LABEL, PREDICTION, PROBABILITY])
    return typed(pd.DataFrame(rows, dtype=object))


def dumps_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-able rows (numpy scalars as Python numbers, missing as None)."""
    out: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return out


__all__ = ["dumps_rows", "inputs", "joined", "typed"]
