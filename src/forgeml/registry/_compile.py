"""Compilation (SageMaker Neo's role): a package in, a checked ONNX package out.

The compiled package keeps the source package's signature, classes, recipe and metrics; its
flavor is ``onnx`` and :func:`forgeml.registry.load_model` runs it with ONNX Runtime. Before the
package is accepted it is run side by side with the original on held-out rows: the largest
absolute deviation of any probability (classifiers) or prediction (regressors) must not exceed
the tolerance, otherwise nothing is written.
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError
from forgeml.registry import _onnx
from forgeml.registry.package import MANIFEST, load_model, requirements, write_manifest

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from forgeml.registry._loaded import LoadedModel

DEFAULT_TOLERANCE = 1e-4
DEFAULT_QUANTIZED_TOLERANCE = 0.05


def _raw_scores(model: LoadedModel, X: Any) -> np.ndarray:
    """Probability matrix (classifiers) or predictions as a 2-D float array."""
    import numpy as np

    out = model._predict_prepared(X)
    if "prediction" in out:
        return np.asarray(out["prediction"], dtype=np.float64).reshape(len(out["prediction"]), -1)
    cols = [out["probability"]] + ([out["score"]] if "score" in out else [])
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in cols])


def _timings(model: LoadedModel, X: Any) -> dict[str, float]:
    """Median single-row latency and batch throughput on already-prepared rows (model only)."""
    predict = model._predict_prepared
    single = []
    for i in range(min(len(X), 50)):
        row = X.iloc[i : i + 1] if hasattr(X, "iloc") else X[i : i + 1]
        t0 = time.perf_counter()
        predict(row)
        single.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    repeats = 0
    while repeats < 2 or time.perf_counter() - t0 < 0.1:
        predict(X)
        repeats += 1
    elapsed = (time.perf_counter() - t0) / repeats
    return {
        "single_row_ms": round(statistics.median(single) * 1000, 4),
        "batch_rows_per_second": round(len(X) / elapsed, 1),
    }


def _model_bytes(path: Path, model_file: str) -> int:
    target = path / model_file
    if target.is_dir():
        return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    return target.stat().st_size


def compile_package(
    src: str | Path,
    dest: str | Path,
    holdout: pd.DataFrame,
    *,
    quantize: bool = False,
    tolerance: float | None = None,
    lineage: dict[str, Any] | None = None,
    digests: dict[str, str] | None = None,
    origin: str | None = None,
) -> dict[str, Any]:
    """Compile the package at ``src`` into a new ONNX package at ``dest``; return the report.

    Args:
        src: a package of flavor ``sklearn`` (scikit-learn, XGBoost or LightGBM estimator).
        dest: a folder to create; removed again when the check fails.
        holdout: rows with the package's input columns, used for the equivalence check and timing.
        quantize: apply dynamic int8 quantization after conversion.
        tolerance: largest accepted absolute deviation (default 1e-4, or 0.05 when quantized).
        lineage: merged into the compiled manifest's lineage (e.g. ``{"compiled_from": ref}``).
        digests: the registry's digests of ``src`` (see :func:`~forgeml.registry.load_model`).
        origin: what to call ``src`` in errors.

    Raises:
        ValidationError: the source is not convertible, the holdout is empty or not numeric after
            the recipe, or the compiled model deviates beyond the tolerance.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # like-for-like timings: one thread each, as a serving worker
        original = load_model(src, digests=digests, origin=origin)
        return _compile(original, Path(dest), holdout, quantize=quantize, tolerance=tolerance, lineage=lineage)


def _compile(
    original: LoadedModel, dest: Path, holdout: pd.DataFrame, *, quantize: bool, tolerance: float | None,
    lineage: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    import numpy as np

    src = original.path
    if original.manifest.flavor != "sklearn":
        raise ValidationError(f"only sklearn-flavor packages can be compiled (this one is {original.manifest.flavor!r})")
    if holdout is None or len(holdout) == 0:
        raise ValidationError("compilation needs held-out rows to check the compiled model against")
    tolerance = tolerance if tolerance is not None else (DEFAULT_QUANTIZED_TOLERANCE if quantize else DEFAULT_TOLERANCE)
    prepared = original.prepare(holdout)
    try:
        rows = np.ascontiguousarray(np.asarray(prepared, dtype=np.float64))
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"model input is not all numeric after the recipe, cannot compile: {exc}") from None
    onx, converter, dtype = _onnx.convert(original.model, rows.shape[1])

    if (dest / MANIFEST).exists():
        raise ValidationError(f"{dest} already holds a model package")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        raw = dest / "model.onnx"
        raw.write_bytes(onx.SerializeToString())
        unquantized_size = raw.stat().st_size
        if quantize:
            tmp = dest / "model.float.onnx"
            raw.replace(tmp)
            _onnx.quantize(tmp, raw)
            tmp.unlink()
        if original.manifest.recipe_file:  # the verified bytes, not whatever the file holds now
            (dest / original.manifest.recipe_file).write_bytes(original.files.read_bytes(original.manifest.recipe_file))
        info: dict[str, Any] = {
            "input": "X", "dtype": dtype, "n_features": int(rows.shape[1]),
            "outputs": _onnx.output_names(raw), "converter": converter,
            "quantized": quantize, "source_algorithm": original.manifest.algorithm,
        }  # fmt: skip
        manifest = replace(
            original.manifest, flavor="onnx", model_file="model.onnx", compiled=info, files={},
            created_at=None, requirements=requirements(),
            lineage={**original.manifest.lineage, **(lineage or {})},
        )  # fmt: skip
        write_manifest(dest, manifest)
        compiled = load_model(dest, threads=1)

        # the original sees what it sees in production (float64); ONNX Runtime casts to float32
        inp = prepared if original.recipe is not None else np.asarray(prepared, dtype=np.float64)
        base, new = _raw_scores(original, inp), _raw_scores(compiled, inp)
        deviation = float(np.nanmax(np.abs(base - new))) if base.size else 0.0
        if not np.isfinite(deviation) or deviation > tolerance:
            raise ValidationError(
                f"compiled model deviates by {deviation:.3g} from the original on {len(rows)} held-out rows "
                f"(tolerance {tolerance:g}); nothing was registered"
            )
        report: dict[str, Any] = {
            "rows_checked": len(rows), "max_abs_deviation": deviation, "tolerance": tolerance,
            "converter": converter, "quantized": quantize,
            "size_bytes": {"before": _model_bytes(src, original.manifest.model_file),
                           "onnx": unquantized_size, "after": raw.stat().st_size},
            "before": _timings(original, inp),
            "after": _timings(compiled, inp),
        }  # fmt: skip
        if original.manifest.is_classifier:
            a = original._predict_prepared(inp)["predicted_label"]
            b = compiled._predict_prepared(inp)["predicted_label"]
            report["label_agreement"] = float(np.mean(np.asarray(a) == np.asarray(b)))
        write_manifest(dest, replace(compiled.manifest, compiled={**info, "report": report}, files={}))
        return report
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


__all__ = ["DEFAULT_QUANTIZED_TOLERANCE", "DEFAULT_TOLERANCE", "compile_package"]
