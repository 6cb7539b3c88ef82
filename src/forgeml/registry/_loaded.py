"""A model package loaded for prediction, whatever its flavor (sklearn, onnx, mlflow).

Two ways in:

* ``predict(frame)``: any pandas frame with (at least) the signature's input columns. Columns
  are selected and ordered, coerced to the signature's types (a value that is not a number in a
  numeric column is refused, naming the column and row), the packaged recipe is applied, and a
  frame comes back with ``predicted_label``, ``probability`` (and ``score`` for binary tasks), or
  ``prediction``.
* ``predict_numpy(X)``: the fast path for endpoints and batch transform. ``X`` is a 2-D array
  whose columns are already the signature's inputs in signature order (``feature_names``) and
  already numeric; no checks are made. Returns ``{output column: 1-D array}``, the same columns
  ``predict`` returns. On a compiled package (flavor ``onnx``) with no recipe this is one ONNX
  Runtime call (a few microseconds per row); with a recipe the rows go through the recipe in
  pandas first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import ModelError, ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from forgeml.registry._files import PackageFiles
    from forgeml.registry.package import ModelManifest

_NUMERIC = ("float", "int", "uint", "double", "long", "Float", "Int", "UInt")


def is_numeric_type(type_name: str | None) -> bool:
    """Whether a signature type names a number (pandas, numpy or MLflow spelling)."""
    return bool(type_name) and str(type_name).startswith(_NUMERIC)


class LoadedModel:
    """A model package ready to predict (see the module docstring for the two entry points).

    Every file is read through ``files`` (:class:`~forgeml.registry._files.PackageFiles`), which
    checks the bytes against the registry's digests (or, for a folder loaded by path, the
    manifest's own) before they are unpickled or handed to ONNX Runtime.

    Args:
        path: the package folder.
        manifest: its manifest (read, verified, from ``files`` when omitted).
        threads: cap on intra-op threads (ONNX Runtime); ``None`` lets the runtime decide.
        trusted: ``False`` loads only an ONNX model with ONNX Runtime and never unpickles
            anything (refusing every other package with :class:`~forgeml.errors.ForbiddenError`).
        files: the package's verified file reader (one over ``path`` with the manifest's
            digests when omitted).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        manifest: ModelManifest | None = None,
        threads: int | None = None,
        trusted: bool = True,
        files: PackageFiles | None = None,
    ) -> None:
        from forgeml.registry._files import PackageFiles
        from forgeml.registry._trust import check_untrusted, read_recipe

        self.path = Path(path)
        self.files = files if files is not None else PackageFiles(self.path)
        self.manifest = manifest or self.files.manifest()
        self.threads = threads
        self.trusted = trusted
        flavor = self.manifest.flavor
        loader = {"sklearn": self._load_sklearn, "onnx": self._load_onnx, "mlflow": self._load_mlflow}.get(flavor)
        if loader is None:
            raise ValidationError(f"model flavor {flavor!r} is not supported by this loader")
        if not trusted:
            check_untrusted(self.files, self.manifest)
        recipe_spec = read_recipe(self.files, self.manifest)
        self.model: Any = loader()
        self.recipe: Any = None
        if recipe_spec is not None:
            from forgeml.registry._recipes import load_recipe

            self.recipe = load_recipe(recipe_spec)
        classes = self.manifest.classes
        self._classes: Any = None
        if classes is not None:
            import numpy as np

            self._classes = np.asarray(classes)

    # loading ---------------------------------------------------------------------------------
    def _load_sklearn(self) -> Any:
        import io

        import joblib

        data = self.files.read_bytes(self.manifest.model_file)
        try:
            return joblib.load(io.BytesIO(data))
        except Exception as exc:  # unpickling can raise anything; the package is unusable
            raise ValidationError(f"cannot load {self.path / self.manifest.model_file}: {type(exc).__name__}: {exc}") from None

    def _load_onnx(self) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if self.threads:
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
        # from the verified bytes: a graph loaded from memory also cannot name external data files
        data = self.files.read_bytes(self.manifest.model_file)
        try:
            return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own exception types
            raise ValidationError(f"cannot load {self.path / self.manifest.model_file}: {exc}") from None

    def _load_mlflow(self) -> Any:
        import mlflow.pyfunc

        # MLflow loads a folder itself: check every file of the package first
        self.files.verify_all()
        return mlflow.pyfunc.load_model(str(self.path / self.manifest.model_file))

    # inputs ----------------------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """The raw input columns, in the order ``predict_numpy`` expects them."""
        return self.manifest.feature_names

    def check_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Select and order the signature's columns.

        Raises:
            ValidationError: when a column is missing.
        """
        missing = [c for c in self.manifest.feature_names if c not in frame.columns]
        if missing:
            raise ValidationError(f"input is missing column(s): {', '.join(missing)}")
        return frame[self.manifest.feature_names]

    def coerce(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Convert text in numeric signature columns to numbers (empty text is missing).

        Raises:
            ValidationError: naming the column, the row label and the value that is not a number.
        """
        import pandas as pd

        changed = {}
        for spec in self.manifest.inputs:
            name = spec["name"]
            col = frame[name]
            if not is_numeric_type(spec.get("type")) or pd.api.types.is_numeric_dtype(col.dtype):
                continue
            if pd.api.types.is_bool_dtype(col.dtype):
                changed[name] = col.astype("float64")
                continue
            text = col.astype("string").str.strip()
            num = pd.to_numeric(text.replace("", pd.NA), errors="coerce")
            bad = num.isna() & text.notna() & (text != "")
            if bad.any():
                row = bad.idxmax()
                raise ValidationError(f"column {name!r} row {row}: {col.loc[row]!r} is not a number")
            changed[name] = num.astype("float64")
        if not changed:
            return frame
        return frame.assign(**changed)

    def prepare(self, frame: pd.DataFrame) -> Any:
        """Checked, coerced and recipe-transformed model input."""
        frame = self.coerce(self.check_input(frame))
        return self.recipe.transform(frame) if self.recipe is not None else frame

    # prediction ------------------------------------------------------------------------------
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for every row of ``frame`` as a pandas frame (index kept).

        Raises:
            ValidationError: bad input columns or values.
            ModelError: the model raised while predicting.
        """
        import pandas as pd

        X = self.prepare(frame)
        out = pd.DataFrame(self._predict_prepared(X))
        out.index = frame.index
        return out

    def predict_numpy(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Fast path: ``X`` holds pre-validated numeric rows in ``feature_names`` order.

        Returns:
            ``{"predicted_label", "probability"[, "score"]}`` or ``{"prediction"}`` as 1-D arrays.

        Raises:
            ModelError: the model raised (for example, wrong number of columns).
        """
        import numpy as np

        X = np.asarray(X)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if self.recipe is not None or self.manifest.flavor == "mlflow":
            import pandas as pd

            if X.shape[1] != len(self.feature_names):
                raise ModelError(f"expected {len(self.feature_names)} columns, got {X.shape[1]}")
            return self._predict_prepared(self.prepare(pd.DataFrame(X, columns=self.feature_names)))
        return self._predict_prepared(X)

    def _predict_prepared(self, X: Any) -> dict[str, np.ndarray]:
        try:
            if self.manifest.flavor == "onnx":
                return self._run_onnx(X)
            if self.manifest.flavor == "mlflow":
                return self._from_outputs(None, self.model.predict(X))
            return self._run_sklearn(X)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            raise ModelError(f"model raised {type(exc).__name__}: {exc}") from None

    def _run_sklearn(self, X: Any) -> dict[str, np.ndarray]:
        names = getattr(self.model, "feature_names_in_", None)
        if names is not None and not hasattr(X, "columns"):
            # a model fitted on a frame warns on bare arrays; name the columns instead of touching
            # the (process-wide, not thread-safe) warning filters
            import pandas as pd

            X = pd.DataFrame(X, columns=list(names), copy=False)
        if self.manifest.is_classifier and hasattr(self.model, "predict_proba"):
            return self._from_outputs(self.model.predict_proba(X), None)
        return self._from_outputs(None, self.model.predict(X))

    def _run_onnx(self, X: Any) -> dict[str, np.ndarray]:
        import numpy as np

        from forgeml.errors import ForgeError

        info = self.manifest.compiled or {}
        dtype = np.float64 if info.get("dtype") == "float64" else np.float32
        try:
            arr = np.ascontiguousarray(np.asarray(X, dtype=dtype))
        except (ValueError, TypeError) as exc:
            raise ModelError(f"compiled model needs numeric input: {exc}") from None
        outputs = info.get("outputs", {})
        try:
            if "probabilities" in outputs:
                (proba,) = self.model.run([outputs["probabilities"]], {info.get("input", "X"): arr})
                return self._from_outputs(np.asarray(proba, dtype=np.float64), None)
            (pred,) = self.model.run([outputs.get("prediction", "variable")], {info.get("input", "X"): arr})
        except ForgeError:
            raise
        except Exception as exc:  # onnxruntime's own error types
            raise ModelError(f"ONNX Runtime raised: {exc}") from None
        return self._from_outputs(None, np.asarray(pred))

    def _from_outputs(self, proba: Any, pred: Any) -> dict[str, np.ndarray]:
        import numpy as np

        if proba is not None:
            proba = np.asarray(proba)
            idx = proba.argmax(axis=1)
            classes = self._classes if self._classes is not None else np.arange(proba.shape[1])
            out = {"predicted_label": classes[idx], "probability": proba[np.arange(len(idx)), idx]}
            if self.manifest.task == "binary" and proba.shape[1] == 2:
                out["score"] = proba[:, 1]
            return out
        if isinstance(pred, dict):  # a model naming its own output columns (DeepAR's mean, quantiles)
            return {str(k): np.asarray(v) for k, v in pred.items()}
        pred = np.asarray(pred)
        if pred.ndim == 2 and pred.shape[1] == 1:
            pred = pred[:, 0]
        if self.manifest.task == "projection" and pred.ndim == 2:
            return {f"projection_{i}": pred[:, i] for i in range(pred.shape[1])}
        return {"prediction": pred}


__all__ = ["LoadedModel", "is_numeric_type"]
