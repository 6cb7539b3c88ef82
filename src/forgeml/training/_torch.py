"""PyTorch models in ForgeML packages: a TorchScript module behind the scikit-learn API.

A script-mode job that saves a TorchScript module (``torch.jit.script(model).save(
f"{SM_MODEL_DIR}/model.pt")``) gets a ForgeML package like any estimator: :class:`TorchModel`
wraps the module (kept as TorchScript bytes, so loading it needs no code of the script) and
answers ``predict``/``predict_proba`` on CPU. Its input is the signature's columns in order, as
one float32 tensor; a classifier's module returns one logit per class (``classes_`` are the
target's sorted values), a regressor's one value per row. The registry's compile step exports
it to ONNX (:meth:`TorchModel.to_onnx`), optionally after magnitude pruning (:func:`prune`).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from forgeml.errors import ValidationError

SUFFIXES = (".pt", ".pth", ".torchscript")
ONNX_OPSET = 17


def is_torchscript(path: Path) -> bool:
    """True when ``path`` is a TorchScript archive (a zip with ``code/`` and ``constants.pkl``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names)


class TorchModel:
    """A TorchScript module with the scikit-learn predict API (what a package holds)."""

    def __init__(self, scripted: bytes, n_features: int, classes: list[Any] | None = None) -> None:
        self.scripted = scripted
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
    def from_module(cls, module: Any, n_features: int, classes: list[Any] | None = None) -> TorchModel:
        """Wrap a TorchScript (or scriptable) module."""
        import torch

        if not isinstance(module, torch.jit.ScriptModule):
            module = torch.jit.script(module)
        buffer = io.BytesIO()
        torch.jit.save(module.cpu().eval(), buffer)
        return cls(buffer.getvalue(), n_features, classes)

    @property
    def module(self) -> Any:
        """The TorchScript module, loaded on CPU in eval mode."""
        if self._module is None:
            import torch

            self._module = torch.jit.load(io.BytesIO(self.scripted), map_location="cpu").eval()
        return self._module

    @property
    def is_classifier(self) -> bool:
        return hasattr(self, "classes_")

    def _forward(self, X: Any) -> np.ndarray:
        import torch

        arr = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} input columns, got shape {arr.shape}")
        with torch.inference_mode():
            out = self.module(torch.from_numpy(arr))
        return np.asarray(out.detach().numpy(), dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the logits; a single logit is a sigmoid's)."""
        logits = self._forward(X)
        if logits.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.column_stack([1.0 - p, p])
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Labels (classifiers) or values (regressors)."""
        if self.is_classifier:
            return self.classes_[self.predict_proba(X).argmax(axis=1)]
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def to_onnx(self) -> Any:
        """Export to an ONNX ``ModelProto`` with input ``X`` ``[None, n_features]`` and output
        ``probabilities`` (classifiers, softmax applied) or ``variable`` (regressors)."""
        import onnx
        import torch

        head = _Probabilities(self.module, binary=self.is_classifier and self._width() == 1) if self.is_classifier else self.module
        buffer = io.BytesIO()
        with warnings.catch_warnings():  # the TorchScript exporter is deprecated in favour of dynamo
            warnings.simplefilter("ignore")
            torch.onnx.export(
                head, (torch.zeros(1, self.n_features_in_),), buffer, dynamo=False, opset_version=ONNX_OPSET,
                input_names=["X"], output_names=["probabilities" if self.is_classifier else "variable"],
                dynamic_axes={"X": {0: "rows"}},
            )  # fmt: skip
        return onnx.load_from_string(buffer.getvalue())

    def _width(self) -> int:
        return int(self._forward(np.zeros((1, self.n_features_in_))).shape[1])



def _probabilities_class() -> Any:
    import torch

    class Probabilities(torch.nn.Module):
        def __init__(self, module: Any, binary: bool) -> None:
            super().__init__()
            self.inner = module
            self.binary = binary

        def forward(self, x: Any) -> Any:
            logits = self.inner(x)
            if self.binary:
                p = torch.sigmoid(logits)
                return torch.cat([1 - p, p], dim=1)
            return torch.softmax(logits, dim=1)

    return Probabilities


def _Probabilities(module: Any, binary: bool) -> Any:  # noqa: N802 - a class factory
    return _probabilities_class()(module, binary)


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
    module = torch.jit.load(io.BytesIO(model.scripted), map_location="cpu")
    weights = [p for name, p in module.named_parameters() if name.endswith("weight") and p.dim() > 1]
    if not weights:
        raise ValidationError("prune: the model has no weight matrices to prune")
    flat = torch.cat([p.detach().abs().flatten() for p in weights])
    k = int(round(float(sparsity) * flat.numel()))
    zeroed = 0
    if k > 0:
        threshold = torch.kthvalue(flat, k).values
        with torch.no_grad():
            for p in weights:
                mask = p.abs() > threshold
                zeroed += int((~mask).sum())
                p.mul_(mask)
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    pruned = TorchModel(buffer.getvalue(), model.n_features_in_, list(model.classes_) if model.is_classifier else None)
    return pruned, {"target_sparsity": float(sparsity), "sparsity": zeroed / flat.numel(), "weights_zeroed": zeroed,
                    "weights": int(flat.numel())}  # fmt: skip


__all__ = ["SUFFIXES", "TorchModel", "is_torchscript", "prune"]


def wrap_saved(model_dir: Path, frame: Any, target: str | None, log: Any) -> tuple[Path, TorchModel] | None:
    """The TorchScript model a script saved in ``model_dir``, wrapped for a package, or None.

    Args:
        model_dir: the job's ``SM_MODEL_DIR`` after the script exited.
        frame: the train channel's rows (to find the classes and to try the module on), or None.
        target: the label column; without it (or the rows) the model stays a raw artifact.
        log: called with one line explaining why a TorchScript model was not packaged.
    """
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in SUFFIXES and is_torchscript(p))
    if not files or frame is None or not target or target not in frame.columns:
        if files:
            log(f"[forgeml] {files[0].name}: TorchScript model kept as a raw artifact (packaging needs the train channel's target column)")
        return None
    import torch

    path = files[0]
    features = frame.drop(columns=[target])
    try:
        module = torch.jit.load(str(path), map_location="cpu").eval()
        sample = torch.as_tensor(np.asarray(features.iloc[:64], dtype=np.float32))
        with torch.inference_mode():
            width = int(module(sample).reshape(len(sample), -1).shape[1])
    except Exception as exc:  # whatever the module raises on the signature's columns
        log(f"[forgeml] {path.name}: not packaged, the module fails on the train channel's feature columns: {type(exc).__name__}: {exc}")
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
    return path, TorchModel.from_module(module, features.shape[1], classes)
