"""PyTorch models in ForgeML packages: an exported program behind the scikit-learn API.

A script-mode job that saves its model with ``torch.export`` (PyTorch's portable format;
TorchScript is deprecated as of torch 2.9)::

    program = torch.export.export(model.cpu().eval(), (X[:2].cpu(),), dynamic_shapes=({0: torch.export.Dim("rows")},))
    torch.export.save(program, os.path.join(os.environ["SM_MODEL_DIR"], "model.pt2"))

gets a ForgeML package like any estimator: :class:`TorchModel` keeps the program's bytes (so
loading needs none of the script's code) and answers ``predict``/``predict_proba`` on CPU. Its
input is the signature's columns in order as one float32 tensor; a classifier's module returns
one logit per class (or one logit for two classes), ``classes_`` being the target's sorted
values; a regressor's returns one value per row. The registry's compile step exports it to ONNX
(:meth:`TorchModel.to_onnx`), optionally after magnitude pruning (:func:`prune`).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from forgeml.errors import ValidationError

SUFFIXES = (".pt2",)
ONNX_OPSET = 17


def _load_program(data: bytes | Path) -> Any:
    import torch

    return torch.export.load(io.BytesIO(data) if isinstance(data, bytes) else str(data))


def _save_program(program: Any) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


class TorchModel:
    """A ``torch.export`` program with the scikit-learn predict API (what a package holds)."""

    def __init__(self, exported: bytes, n_features: int, classes: list[Any] | None = None) -> None:
        self.exported = exported
        self.n_features_in_ = int(n_features)
        if classes is not None:
            self.classes_ = np.asarray(classes)
        self._module: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_module"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._module = None

    @classmethod
    def from_program(cls, program: Any, n_features: int, classes: list[Any] | None = None) -> TorchModel:
        """Wrap an ``ExportedProgram`` (its batch dimension should be dynamic)."""
        return cls(_save_program(program), n_features, classes)

    @property
    def module(self) -> Any:
        """The program as a callable module (CPU)."""
        if self._module is None:
            self._module = _load_program(self.exported).module()
        return self._module

    @property
    def is_classifier(self) -> bool:
        return hasattr(self, "classes_")

    def _forward(self, X: Any) -> np.ndarray:
        import torch

        arr = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} input columns, got shape {arr.shape}")
        with torch.no_grad():
            out = self.module(torch.from_numpy(arr))
        return np.asarray(out.detach().numpy(), dtype=np.float64).reshape(len(arr), -1)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the logits; a single logit is a sigmoid's)."""
        logits = self._forward(X)
        if logits.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.column_stack([1.0 - p, p])
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(z / z.sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        """Labels (classifiers) or values (regressors)."""
        if self.is_classifier:
            return np.asarray(self.classes_[self.predict_proba(X).argmax(axis=1)])
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def to_onnx(self) -> Any:
        """Export to an ONNX ``ModelProto``: input ``X`` ``[None, n_features]``, output
        ``probabilities`` (classifiers, softmax or sigmoid applied) or ``variable`` (regressors)."""
        import onnx
        import torch

        binary = self.is_classifier and self._forward(np.zeros((1, self.n_features_in_))).shape[1] == 1
        head = _head_class()(self.module, self.is_classifier, binary)
        buffer = io.BytesIO()
        # torch.onnx's default (dynamo) exporter needs onnxscript, which the torch extra does not
        # pull in; the TorchScript-based one is built in, warns that it is deprecated, and warns
        # that the program's shape guards are traced as constants (they only check the width)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                head, (torch.zeros(2, self.n_features_in_),), buffer,  # type: ignore[arg-type]  # a file object works
                dynamo=False, opset_version=ONNX_OPSET,
                input_names=["X"], output_names=["probabilities" if self.is_classifier else "variable"],
                dynamic_axes={"X": {0: "rows"}},
            )  # fmt: skip
        return onnx.load_from_string(buffer.getvalue())


def _head_class() -> Any:
    import torch

    class Head(torch.nn.Module):
        """The program plus the probability head; ``train()`` is a no-op (exported programs refuse it)."""

        def __init__(self, inner: Any, classifier: bool, binary: bool) -> None:
            super().__init__()
            self.inner, self.classifier, self.binary = inner, classifier, binary

        def train(self, mode: bool = True) -> Any:
            return self

        def forward(self, x: Any) -> Any:
            out = self.inner(x)
            if not self.classifier:
                return out
            if self.binary:
                p = torch.sigmoid(out)
                return torch.cat([1 - p, p], dim=1)
            return torch.softmax(out, dim=1)

    return Head


def prune(model: TorchModel, sparsity: float) -> tuple[TorchModel, dict[str, Any]]:
    """Global magnitude pruning: zero the smallest ``sparsity`` share of all weight matrices.

    Biases and 1-D parameters (norm scales) are kept. Returns the pruned copy and what was done
    (the achieved sparsity over the pruned weights and the count of zeroed weights).

    Raises:
        ValidationError: ``sparsity`` is not in ``[0, 1)`` (1.0 would zero every weight and leave
            a constant model).
    """
    import torch

    if not isinstance(sparsity, (int, float)) or not 0.0 <= float(sparsity) < 1.0:
        raise ValidationError(
            f"prune: sparsity must be at least 0 and below 1 (got {sparsity!r}); 1.0 would zero every weight"
        )
    program = _load_program(model.exported)
    weights = [p for name, p in program.state_dict.items() if name.endswith("weight") and p.dim() > 1]
    if not weights:
        raise ValidationError("prune: the model has no weight matrices to prune")
    flat = torch.cat([p.detach().abs().flatten() for p in weights])
    k = round(float(sparsity) * flat.numel())
    zeroed = 0
    if k > 0:
        threshold = torch.kthvalue(flat, k).values
        with torch.no_grad():
            for p in weights:
                mask = p.abs() > threshold
                zeroed += int((~mask).sum())
                p.mul_(mask)
    pruned = TorchModel(_save_program(program), model.n_features_in_, list(model.classes_) if model.is_classifier else None)
    return pruned, {"target_sparsity": float(sparsity), "sparsity": zeroed / flat.numel(), "weights_zeroed": zeroed,
                    "weights": int(flat.numel())}  # fmt: skip




def wrap_saved(model_dir: Path, frame: Any, target: str | None, log: Any) -> tuple[Path, TorchModel] | None:
    """The TorchScript model a script saved in ``model_dir``, wrapped for a package, or None.

    Args:
        model_dir: the job's ``SM_MODEL_DIR`` after the script exited.
        frame: the train channel's rows (to find the classes and to try the module on), or None.
        target: the label column; without it (or the rows) the model stays a raw artifact.
        log: called with one line explaining why a TorchScript model was not packaged.
    """
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not files or frame is None or not target or target not in frame.columns:
        if files:
            log(f"[forgeml] {files[0].name}: kept as a raw artifact (packaging needs the train channel and its target column)")
        return None
    import torch

    path = files[0]
    features = frame.drop(columns=[target])
    try:
        program = _load_program(path)
        sample = torch.as_tensor(np.asarray(features.iloc[:64], dtype=np.float32))
        with torch.no_grad():
            width = int(program.module()(sample).reshape(len(sample), -1).shape[1])
    except Exception as exc:  # whatever loading or the program raises on the signature's columns
        log(f"[forgeml] {path.name}: not packaged, the program fails on the train channel's feature columns: {type(exc).__name__}: {exc}")
        return None
    labels = frame[target]
    values = np.asarray(labels)
    regression = labels.dtype.kind == "f" and not np.all(np.mod(values[~np.isnan(values)], 1) == 0)
    classes = None if regression else sorted(labels.dropna().unique().tolist())
    if classes is not None and not (width == len(classes) or (width == 1 and len(classes) == 2)):
        if width != 1:
            log(f"[forgeml] {path.name}: not packaged, {width} outputs for {len(classes)} classes of {target!r}")
            return None
        classes = None  # one output over integer-valued targets: a regressor
    if classes is None and width != 1:
        log(f"[forgeml] {path.name}: not packaged, a regressor must return one value per row (got {width})")
        return None
    return path, TorchModel.from_program(program, features.shape[1], classes)


__all__ = ["SUFFIXES", "TorchModel", "prune", "wrap_saved"]
