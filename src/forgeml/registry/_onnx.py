"""Conversion of fitted estimators to ONNX (skl2onnx for scikit-learn, onnxmltools for XGBoost
and LightGBM), and optional dynamic quantization with ONNX Runtime.

The model's input is one float tensor ``X`` of shape ``[None, n_features]``: the recipe (if the
package has one) still runs in Python before it. Classifiers are converted without ZipMap, so the
outputs are plain tensors (``label``, ``probabilities``); regressors give ``variable``.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any

from forgeml.errors import ValidationError

SKL2ONNX_OPSET = {"": 17, "ai.onnx.ml": 3}
ONNXMLTOOLS_OPSET = 15  # the highest onnxmltools 1.16 accepts


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


def converter_of(model: Any) -> str:
    """``"xgboost"``, ``"lightgbm"`` or ``"skl2onnx"``: which library converts ``model``."""
    module = type(model).__module__
    if module.startswith("xgboost"):
        return "xgboost"
    if module.startswith("lightgbm"):
        return "lightgbm"
    return "skl2onnx"


def convert(model: Any, n_features: int) -> tuple[Any, str]:
    """Convert a fitted estimator to an ONNX ``ModelProto``; return it and the converter used.

    Raises:
        ValidationError: naming the estimator type when the converters cannot handle it.
    """
    kind = converter_of(model)
    name = type(model).__name__
    try:
        if kind in ("xgboost", "lightgbm"):
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType as MLFloat

            types = [("X", MLFloat([None, n_features]))]
            if kind == "xgboost":
                onx = onnxmltools.convert_xgboost(model, initial_types=types, target_opset=ONNXMLTOOLS_OPSET)
            else:
                onx = onnxmltools.convert_lightgbm(model, initial_types=types, target_opset=ONNXMLTOOLS_OPSET, zipmap=False)
            return onx, f"onnxmltools {version('onnxmltools')}"
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType

        _patch_hist_gradient_boosting()
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
        onx = to_onnx(
            model, initial_types=[("X", FloatTensorType([None, n_features]))],
            options=options, target_opset=SKL2ONNX_OPSET,
        )  # fmt: skip
        return onx, f"skl2onnx {version('skl2onnx')}"
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


def output_names(model_path: Path) -> dict[str, str]:
    """Map ``probabilities``/``label`` or ``prediction`` to the ONNX graph's output names."""
    import onnx

    names = [o.name for o in onnx.load(str(model_path), load_external_data=False).graph.output]
    prob = [n for n in names if "prob" in n.lower()]
    if prob:
        label = [n for n in names if "label" in n.lower()]
        return {"probabilities": prob[0], **({"label": label[0]} if label else {})}
    return {"prediction": names[0]}


__all__ = ["convert", "converter_of", "output_names", "quantize"]
