"""Conversion of fitted estimators to ONNX (skl2onnx for scikit-learn, onnxmltools for XGBoost
and LightGBM, ``torch.onnx`` for PyTorch programs: :meth:`forgeml.training._torch.TorchModel.to_onnx`),
and optional dynamic quantization with ONNX Runtime.

The model's input is one float tensor ``X`` of shape ``[None, n_features]``: the recipe (if the
package has one) still runs in Python before it, and the tensor's columns are the model's input
columns in the order it was fitted on. Classifiers are converted without ZipMap, so the outputs
are plain tensors (``label``, ``probabilities``); regressors give ``variable``.

Column names never reach the converters. A model fitted on a pandas frame remembers its column
names, and the converters cannot use them: onnxmltools reads XGBoost's tree dump, which names
split features after the columns, and accepts only ``f0``, ``f1``, ... ("Unable to interpret
'gdlin', feature names should follow pattern 'f%d'"); skl2onnx looks a ColumnTransformer's named
columns up among the graph's input names. :func:`positional` therefore converts a copy of the
model in which every column is addressed by its position, the converters' documented input
(feature ``fN`` is column N; a ColumnTransformer takes column indices), whatever the names are.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

from forgeml.errors import ValidationError

SKL2ONNX_OPSET = {"": 17, "ai.onnx.ml": 3}
ONNXMLTOOLS_OPSET = 15  # the highest onnxmltools 1.16 accepts
# estimators whose float32 arithmetic can change a discrete answer (the nearest neighbour, the
# nearest centre): converted with a float64 input so the compiled model agrees with the original
DOUBLE_INPUT = ("KNeighborsClassifier", "KNeighborsRegressor", "KMeans", "MiniBatchKMeans")


def _patch_hist_gradient_boosting() -> None:
    """Work around skl2onnx 1.20 + onnx 1.23: HistGradientBoosting leaves pass a Python ``False``
    as ``nodes_missing_value_tracks_true``, which onnx now refuses ("Expected an int, got a
    boolean"). Casting the flag to ``int`` keeps its meaning (NaN routing is unchanged)."""
    import skl2onnx.common.tree_ensemble as te

    if getattr(te.add_node, "_forgeml_patched", False):
        return
    original = te.add_node

    def add_node(*args: Any, **kwargs: Any) -> Any:
        flag = kwargs.get("nodes_missing_value_tracks_true")
        if isinstance(flag, bool) or type(flag).__name__ == "bool_":
            kwargs["nodes_missing_value_tracks_true"] = int(flag)
        return original(*args, **kwargs)

    add_node._forgeml_patched = True  # type: ignore[attr-defined]
    te.add_node = add_node


def _library(obj: Any) -> str:
    module = type(obj).__module__
    return module.split(".", 1)[0]


def is_torch(model: Any) -> bool:
    """True for a PyTorch model in a package (:class:`forgeml.training._torch.TorchModel`)."""
    return type(model).__module__ == "forgeml.training._torch" and type(model).__name__ == "TorchModel"


def converter_of(model: Any) -> str:
    """``"xgboost"``, ``"lightgbm"`` or ``"skl2onnx"``: which library converts ``model``."""
    library = _library(model)
    return library if library in ("xgboost", "lightgbm") else "skl2onnx"


def _is_estimator(obj: Any) -> bool:
    return hasattr(obj, "get_params") and (hasattr(obj, "fit") or hasattr(obj, "transform"))


def estimators(model: Any) -> Iterator[Any]:
    """``model`` and every estimator nested in it (pipeline steps, column transformers' parts,
    ensembles' members), each once."""
    seen: set[int] = set()
    stack = [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        yield obj
        for value in getattr(obj, "__dict__", {}).values():
            items = [value]
            while items:
                item = items.pop()
                if isinstance(item, (list, tuple)):
                    items.extend(item)
                elif _is_estimator(item) and id(item) not in seen:
                    stack.append(item)


def _positions(columns: Any, names: list[str]) -> Any:
    """A ColumnTransformer's column selection with every name replaced by its position."""
    import numpy as np

    index = {name: i for i, name in enumerate(names)}

    def one(col: Any) -> Any:
        return index[col] if isinstance(col, str) else col

    if isinstance(columns, str):
        return index[columns]
    if isinstance(columns, (list, tuple)) or (isinstance(columns, np.ndarray) and columns.dtype != bool):
        return [one(c) for c in columns]
    if isinstance(columns, np.ndarray):  # a boolean mask
        return [int(i) for i in np.flatnonzero(columns)]
    return columns


def positional(model: Any) -> Any:
    """A copy of ``model`` whose every part addresses input columns by position, not by name.

    XGBoost boosters forget their feature names (their dump then says ``f0``, ``f1``, ..., the
    columns in fitting order); a ColumnTransformer fitted on a frame selects its columns by index
    in ``feature_names_in_``. Predictions are unchanged; the original is not touched.
    """
    from sklearn.compose import ColumnTransformer

    clone = copy.deepcopy(model)
    for part in estimators(clone):
        if _library(part) == "xgboost" and hasattr(part, "get_booster"):
            part.get_booster().feature_names = None
        elif isinstance(part, ColumnTransformer) and hasattr(part, "feature_names_in_"):
            names = [str(n) for n in part.feature_names_in_]
            part.transformers_ = [(name, trans, _positions(cols, names)) for name, trans, cols in part.transformers_]
    return clone


def _register_boosters(model: Any) -> None:
    """Teach skl2onnx the onnxmltools converters of the XGBoost / LightGBM models inside
    ``model`` (skl2onnx's documented way to convert pipelines that contain them)."""
    libraries = {_library(part) for part in estimators(model)}
    if not libraries & {"xgboost", "lightgbm"}:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    if "xgboost" in libraries:
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
        from xgboost import XGBClassifier, XGBRegressor

        update_registered_converter(XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes,
                                    convert_xgboost, options=classifier_options)  # fmt: skip
        update_registered_converter(XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost)
    if "lightgbm" in libraries:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        update_registered_converter(LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
                                    convert_lightgbm, options=classifier_options)  # fmt: skip
        update_registered_converter(LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
                                    convert_lightgbm, options={"split": None})  # fmt: skip


def plan(model: Any) -> tuple[Any, str]:
    """The copy of ``model`` to convert (see :func:`positional`) and its input type.

    A bare estimator takes float32, as tree libraries use internally, except the estimators in
    ``DOUBLE_INPUT``. A pipeline with preprocessing steps takes float64, so its transformers
    compute what they compute in Python, and casts to float32 just before its final estimator
    (unless that is in ``DOUBLE_INPUT``): trees split on thresholds that sit on training values,
    and a scaler computed in float32 moves values across them (a scaled XGBoost pipeline deviated
    by 0.28 in probability without the cast, by 1e-7 with it).
    """
    plain = positional(model)
    steps = getattr(plain, "steps", None)
    final = steps[-1][1] if steps else plain
    keeps_double = type(final).__name__ in DOUBLE_INPUT
    if steps and len(steps) > 1:
        if not keeps_double:
            import numpy as np
            from skl2onnx.sklapi import CastTransformer

            plain.steps.insert(len(steps) - 1, ("forgeml-float32", CastTransformer(dtype=np.float32)))
        return plain, "float64"
    return plain, "float64" if keeps_double else "float32"


def _with_default_domain(onx: Any, opset: int) -> Any:
    """Declare the default (``ai.onnx``) operator set exactly once. Graphs of tree ensembles use
    only ``ai.onnx.ml`` operators: onnxmltools then declares no default set and skl2onnx 1.20
    declares it twice, and ONNX Runtime's quantizer refuses both ("Failed to find proper ai.onnx
    domain")."""
    from onnx import helper

    versions: dict[str, int] = {}
    for op in onx.opset_import:
        domain = "" if op.domain == "ai.onnx" else op.domain
        versions[domain] = max(versions.get(domain, 0), op.version)
    versions.setdefault("", opset)
    del onx.opset_import[:]
    onx.opset_import.extend(helper.make_opsetid(domain, v) for domain, v in versions.items())
    return onx


def convert(model: Any, n_features: int) -> tuple[Any, str, str]:
    """Convert a fitted estimator to an ONNX ``ModelProto``.

    Args:
        model: the fitted estimator or pipeline (it is not changed).
        n_features: the number of input columns.

    Returns:
        The ONNX model, the converter used (with its version) and the input tensor's type
        (``float32`` or ``float64``, see :func:`plan`).

    Raises:
        ValidationError: naming the estimator type when the converters cannot handle it.
    """
    if is_torch(model):
        return model.to_onnx(), f"torch.onnx {version('torch')}", "float32"
    kind = converter_of(model)
    name = type(model).__name__
    try:
        if kind in ("xgboost", "lightgbm"):
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType as MLFloat

            plain = positional(model)
            types = [("X", MLFloat([None, n_features]))]
            if kind == "xgboost":
                onx = onnxmltools.convert_xgboost(plain, initial_types=types, target_opset=ONNXMLTOOLS_OPSET)
            else:
                onx = onnxmltools.convert_lightgbm(plain, initial_types=types, target_opset=ONNXMLTOOLS_OPSET, zipmap=False)
            return _with_default_domain(onx, ONNXMLTOOLS_OPSET), f"onnxmltools {version('onnxmltools')}", "float32"
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

        _patch_hist_gradient_boosting()
        plain, dtype = plan(model)
        _register_boosters(plain)
        tensor = DoubleTensorType if dtype == "float64" else FloatTensorType
        final = plain.steps[-1][1] if hasattr(plain, "steps") else plain
        options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
        onx = to_onnx(
            plain, initial_types=[("X", tensor([None, n_features]))],
            options=options, target_opset=SKL2ONNX_OPSET,
        )  # fmt: skip
        return _with_default_domain(onx, SKL2ONNX_OPSET[""]), f"skl2onnx {version('skl2onnx')}", dtype
    except Exception as exc:  # converters raise many types; all mean "cannot convert this model"
        message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise ValidationError(f"cannot compile {name} to ONNX: {type(exc).__name__}: {message}") from None


def quantize(src: Path, dest: Path) -> None:
    """Dynamic int8 quantization of weights (MatMul/Gemm); tree ensembles are left as they are."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a pre-processing hint on the root logger
    try:
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8, reduce_range=True)
    except Exception as exc:  # onnxruntime's quantizer raises its own types
        raise ValidationError(f"cannot quantize {src.name}: {type(exc).__name__}: {exc}") from None
    finally:
        root.setLevel(level)


MAX_CALIBRATION_ROWS = 512


def quantize_static(src: Path, dest: Path, rows: Any, input_name: str = "X") -> dict[str, Any]:
    """Static (post-training, calibrated) int8 quantization: weights and activations.

    ONNX Runtime's ``quantize_static`` in QDQ format, int8 weights (per channel) and activations,
    activation ranges calibrated with MinMax over ``rows`` (at most ``MAX_CALIBRATION_ROWS``).
    Returns what was done (for the report).

    Raises:
        ValidationError: no calibration rows, or the quantizer fails.
    """
    import numpy as np
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
    )
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    arr = np.ascontiguousarray(np.asarray(rows, dtype=np.float32)[:MAX_CALIBRATION_ROWS])
    if len(arr) == 0:
        raise ValidationError("static quantization needs calibration rows (the holdout is empty)")

    class Rows(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(arr[i : i + 1] for i in range(len(arr)))

        def get_next(self) -> dict[str, Any] | None:
            batch = next(self.it, None)
            return None if batch is None else {input_name: batch}

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        ort_quantize_static(
            str(src), str(dest), Rows(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8, per_channel=True, calibrate_method=CalibrationMethod.MinMax,
        )  # fmt: skip
    except Exception as exc:  # onnxruntime's quantizer raises its own types
        raise ValidationError(f"cannot statically quantize {src.name}: {type(exc).__name__}: {exc}") from None
    finally:
        root.setLevel(level)
    return {"mode": "static", "format": "QDQ", "weights": "int8 per channel", "activations": "int8",
            "calibration": "MinMax", "calibration_rows": len(arr)}  # fmt: skip


def output_names(model_path: Path) -> dict[str, str]:
    """Map ``probabilities``/``label`` or ``prediction`` to the ONNX graph's output names."""
    import onnx

    names = [o.name for o in onnx.load(str(model_path), load_external_data=False).graph.output]
    prob = [n for n in names if "prob" in n.lower()]
    if prob:
        label = [n for n in names if "label" in n.lower()]
        return {"probabilities": prob[0], **({"label": label[0]} if label else {})}
    return {"prediction": names[0]}


__all__ = ["convert", "converter_of", "estimators", "output_names", "plan", "positional", "quantize", "quantize_static"]
