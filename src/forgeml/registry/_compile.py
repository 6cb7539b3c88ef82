"""Compilation (SageMaker Neo's role): a package in, a checked ONNX package out.

The compiled package keeps the source package's signature, classes, recipe and metrics; its
flavor is ``onnx`` and :func:`forgeml.registry.load_model` runs it with ONNX Runtime. Before the
package is accepted it is run side by side with the original on held-out rows: the largest
absolute deviation of any probability (classifiers) or prediction (regressors) must not exceed
the tolerance, otherwise nothing is written.
"""

from __future__ import annotations

import gzip
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
DEFAULT_ACCURACY_TOLERANCE = 0.02  # largest accepted accuracy drop (or relative RMSE rise) of prune/quantize


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
    quantize: bool | str = False,
    tolerance: float | None = None,
    lineage: dict[str, Any] | None = None,
    digests: dict[str, str] | None = None,
    origin: str | None = None,
    prune: float | None = None,
    accuracy_tolerance: float | None = None,
) -> dict[str, Any]:
    """Compile the package at ``src`` into a new ONNX package at ``dest``; return the report.

    Args:
        src: a package of flavor ``sklearn`` (scikit-learn, XGBoost or LightGBM estimator).
        dest: a folder to create; removed again when the check fails.
        holdout: rows with the package's input columns, used for the equivalence check and timing.
        quantize: ``True`` / ``"dynamic"``: dynamic int8 quantization (weights) after conversion;
            ``"static"``: static int8 quantization of weights and activations, calibrated on the
            holdout rows (see :func:`~forgeml.registry._onnx.quantize_static`).
        tolerance: largest accepted absolute deviation (default 1e-4, or 0.05 when quantized).
        lineage: merged into the compiled manifest's lineage (e.g. ``{"compiled_from": ref}``).
        digests: the registry's digests of ``src`` (see :func:`~forgeml.registry.load_model`).
        origin: what to call ``src`` in errors.
        prune: magnitude-prune a PyTorch model's weights to this sparsity (0 <= prune < 1) first.
        accuracy_tolerance: when pruning or quantizing and ``holdout`` has the target column, the
            largest accepted accuracy drop (classifiers) or relative RMSE rise (regressors);
            default 0.02. Pruning needs the target column; its deviation is reported, not checked
            (unless ``tolerance`` is given).

    Raises:
        ValidationError: the source is not convertible, the holdout is empty or not numeric after
            the recipe, or the compiled model deviates beyond the tolerance.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # like-for-like timings: one thread each, as a serving worker
        original = load_model(src, digests=digests, origin=origin)
        return _compile(
            original, Path(dest), holdout, quantize=quantize, tolerance=tolerance, lineage=lineage, prune=prune,
            accuracy_tolerance=DEFAULT_ACCURACY_TOLERANCE if accuracy_tolerance is None else accuracy_tolerance,
        )  # fmt: skip


def _compile(
    original: LoadedModel, dest: Path, holdout: pd.DataFrame, *, quantize: bool | str, tolerance: float | None,
    lineage: dict[str, Any] | None, prune: float | None = None, accuracy_tolerance: float = DEFAULT_ACCURACY_TOLERANCE,
) -> dict[str, Any]:  # fmt: skip
    import numpy as np

    src = original.path
    mode = quantize_mode(quantize)
    quantize = mode is not None
    if original.manifest.flavor != "sklearn":
        raise ValidationError(f"only sklearn-flavor packages can be compiled (this one is {original.manifest.flavor!r})")
    if holdout is None or len(holdout) == 0:
        raise ValidationError("compilation needs held-out rows to check the compiled model against")
    # pruning and static quantization change what the model computes: their check is the accuracy
    # change on labelled rows; the deviation is reported, checked only when a tolerance is given
    check_deviation = (prune is None and mode != "static") or tolerance is not None
    tolerance = tolerance if tolerance is not None else (DEFAULT_QUANTIZED_TOLERANCE if quantize else DEFAULT_TOLERANCE)
    labels = _labels(original, holdout)
    if mode == "static" and labels is None:
        raise ValidationError(
            f"static quantization: the held-out rows need the target column {original.manifest.target!r} "
            "to measure the accuracy change (they also calibrate the activation ranges)"
        )
    model, pruning = original.model, None
    if prune is not None:
        model, pruning = _prune(original, prune, labels)
    prepared = original.prepare(holdout)
    try:
        rows = np.ascontiguousarray(np.asarray(prepared, dtype=np.float64))
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"model input is not all numeric after the recipe, cannot compile: {exc}") from None
    onx, converter, dtype = _onnx.convert(model, rows.shape[1])

    if (dest / MANIFEST).exists():
        raise ValidationError(f"{dest} already holds a model package")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        raw = dest / "model.onnx"
        raw.write_bytes(onx.SerializeToString())
        unquantized_size = raw.stat().st_size
        quantization: dict[str, Any] | None = None
        if quantize:
            tmp = dest / "model.float.onnx"
            raw.replace(tmp)
            if mode == "static":
                quantization = _onnx.quantize_static(tmp, raw, rows)
            else:
                _onnx.quantize(tmp, raw)
                quantization = {"mode": "dynamic", "weights": "int8", "activations": "float (quantized at run time)"}
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
        if check_deviation and (not np.isfinite(deviation) or deviation > tolerance):
            raise ValidationError(
                f"compiled model deviates by {deviation:.3g} from the original on {len(rows)} held-out rows "
                f"(tolerance {tolerance:g}); nothing was registered"
            )
        report: dict[str, Any] = {
            "rows_checked": len(rows), "max_abs_deviation": deviation, "tolerance": tolerance,
            "converter": converter, "quantized": quantize,
            "size_bytes": {"before": _model_bytes(src, original.manifest.model_file),
                           "onnx": unquantized_size, "after": raw.stat().st_size,
                           "after_gzip": len(gzip.compress(raw.read_bytes(), 6))},
            "before": _timings(original, inp),
            "after": _timings(compiled, inp),
        }  # fmt: skip
        if original.manifest.is_classifier:
            a = original._predict_prepared(inp)["predicted_label"]
            b = compiled._predict_prepared(inp)["predicted_label"]
            report["label_agreement"] = float(np.mean(np.asarray(a) == np.asarray(b)))
        if pruning is not None:
            report["pruning"] = pruning
        if quantization is not None:
            report["quantization"] = quantization
        if labels is not None:
            report["accuracy"] = _accuracy_change(original, compiled, inp, labels)
            if (prune is not None or quantize) and report["accuracy"]["loss"] > accuracy_tolerance:
                acc = report["accuracy"]
                raise ValidationError(
                    f"{'pruned' if prune is not None else (mode or '') + ' quantized'} model's {acc['metric']} goes from {acc['before']:.4g} "
                    f"to {acc['after']:.4g} on {len(rows)} held-out rows (loss {acc['loss']:.3g}, accuracy tolerance "
                    f"{accuracy_tolerance:g}); nothing was registered"
                )
        write_manifest(dest, replace(compiled.manifest, compiled={**info, "report": report}, files={}))
        return report
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def quantize_mode(quantize: Any) -> str | None:
    """``None`` (no quantization), ``"dynamic"`` (``True`` too) or ``"static"``.

    Raises:
        ValidationError: any other value.
    """
    if quantize is False or quantize is None:
        return None
    if quantize is True or quantize == "dynamic":
        return "dynamic"
    if quantize == "static":
        return "static"
    raise ValidationError(f"quantize must be false, true / 'dynamic' or 'static' (got {quantize!r})")


def _labels(original: LoadedModel, holdout: pd.DataFrame) -> Any:
    """The held-out rows' target values, when the holdout has the package's target column."""
    target = original.manifest.target
    if target and hasattr(holdout, "columns") and target in holdout.columns:
        return holdout[target].to_numpy()
    return None


def _prune(original: LoadedModel, sparsity: float, labels: Any) -> tuple[Any, dict[str, Any]]:
    """Validate a pruning request and prune a copy of the package's PyTorch model."""
    if not _onnx.is_torch(original.model):
        raise ValidationError(
            f"prune: magnitude pruning applies to PyTorch models; this package holds {type(original.model).__name__}"
        )
    from forgeml.training._torch import prune

    pruned, info = prune(original.model, sparsity)  # refuses sparsity outside [0, 1) first
    if labels is None:
        raise ValidationError(
            f"prune: the held-out rows need the target column {original.manifest.target!r} to measure the accuracy change"
        )
    return pruned, info


def _accuracy_change(original: LoadedModel, compiled: LoadedModel, X: Any, labels: Any) -> dict[str, Any]:
    """Accuracy (classifiers) or RMSE (regressors) of both models on the labelled held-out rows;
    ``loss`` is the accuracy drop or the relative RMSE rise (positive: worse)."""
    import numpy as np

    if original.manifest.is_classifier:
        before = float(np.mean(np.asarray(original._predict_prepared(X)["predicted_label"]) == labels))
        after = float(np.mean(np.asarray(compiled._predict_prepared(X)["predicted_label"]) == labels))
        return {"metric": "accuracy", "before": before, "after": after, "change": after - before, "loss": before - after}
    y = np.asarray(labels, dtype=np.float64)
    before = float(np.sqrt(np.mean((np.asarray(original._predict_prepared(X)["prediction"], dtype=np.float64) - y) ** 2)))
    after = float(np.sqrt(np.mean((np.asarray(compiled._predict_prepared(X)["prediction"], dtype=np.float64) - y) ** 2)))
    loss = (after - before) / before if before > 0 else after - before
    return {"metric": "rmse", "before": before, "after": after, "change": after - before, "loss": loss}


__all__ = ["DEFAULT_ACCURACY_TOLERANCE", "DEFAULT_QUANTIZED_TOLERANCE", "DEFAULT_TOLERANCE", "compile_package"]
