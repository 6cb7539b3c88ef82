"""A loaded model package ready to predict rows that the codecs have checked.

The runner builds one pandas frame per batch (named columns, the training dtypes), so the
package's recipe and the estimator see exactly what they saw in training and scikit-learn never
warns about missing feature names. When the package offers a faster path (an ONNX flavor or a
``predict_fast`` method from the registry), the runner uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forgeml.errors import ForgeError, ModelError, ValidationError
from forgeml.serving._codecs import Signature, _listing

_INT = ("int", "uint")


class ModelRunner:
    """Predicts lists of rows with one model package.

    Args:
        path: the model package folder.
        threads: cap on the model's intra-op threads.
        trusted: ``False`` loads only an ONNX model (never unpickles).
        digests: ForgeML's sha256 of every file (the runtime's); ``None``: the manifest's own.
        origin: what to call the package in errors.
    """

    def __init__(
        self, path: str | Path, *, threads: int | None = None, trusted: bool = True,
        digests: dict[str, str] | None = None, origin: str | None = None,
    ) -> None:  # fmt: skip
        from forgeml.registry.package import load_model

        self.path = Path(path)
        self.model = load_model(self.path, threads=threads, trusted=trusted, digests=digests, origin=origin)
        self.manifest = self.model.manifest
        self.signature = Signature(self.manifest.inputs)
        # the registry's numpy fast path (ONNX Runtime on compiled packages) needs numeric rows
        self._numpy = getattr(self.model, "predict_numpy", None) if all(self.signature.numeric) else None

    @property
    def size_bytes(self) -> int:
        """The package's size on disk: the memory estimate used by the multi-model cache."""
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def frame(self, rows: list[list[Any]]) -> Any:
        """Rows as a frame with the signature's names and dtypes."""
        import numpy as np
        import pandas as pd

        columns = list(zip(*rows, strict=True)) if rows else [() for _ in self.signature.names]
        data: dict[str, Any] = {}
        for name, kind, numeric, values in zip(
            self.signature.names, self.signature.types, self.signature.numeric, columns, strict=True
        ):
            if numeric:
                arr = np.asarray(values, dtype=np.float64)
                low = kind.lower()
                if not np.isnan(arr).any():
                    if low.startswith(_INT):
                        arr = arr.astype(kind if kind[0] in "iu" else "int64")
                    elif low.startswith("bool"):
                        arr = arr.astype(bool)
                data[name] = arr
            else:
                data[name] = pd.array(values, dtype=object)
        return pd.DataFrame(data, copy=False)

    def predict(self, rows: list[list[Any]], offset: int = 0) -> list[dict[str, Any]]:
        """One prediction dict per row (``offset``: the first row's record number in errors).

        Raises:
            ValidationError: the package refused the input (a column the recipe cannot take).
            ModelError: the model raised.
        """
        try:
            if self._numpy is not None:
                import numpy as np

                out = self._numpy(np.asarray(rows, dtype=np.float64))
                columns = {c: np.asarray(v).tolist() for c, v in out.items()}
            else:
                frame = self.model.predict(self.frame(rows))
                columns = {c: frame[c].tolist() for c in frame.columns}
        except ValidationError:
            raise
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ForgeError) else f"model raised {type(exc).__name__}: {exc}"
            reason = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
            missing = self._missing(rows, offset)
            if missing:  # the caller sent values the model cannot take: their error, named
                raise ValidationError(f"{missing}, and this model does not accept missing values ({reason})") from None
            raise ModelError(reason) from None
        n = len(rows)
        if any(len(v) != n for v in columns.values()):
            raise ModelError(f"model returned {len(next(iter(columns.values())))} prediction(s) for {n} record(s)")
        names = list(columns)
        return [dict(zip(names, vals, strict=True)) for vals in zip(*columns.values(), strict=True)]


    def _missing(self, rows: list[list[Any]], offset: int = 0) -> str:
        """Where ``rows`` hold missing numbers (NaN), as ``record 3 column 'x1' is empty`` (the
        first such record, with every column missing in it); ``""`` when none do."""
        numeric = [j for j, flag in enumerate(self.signature.numeric) if flag]
        for i, row in enumerate(rows):
            empty = [self.signature.names[j] for j in numeric if isinstance(row[j], float) and row[j] != row[j]]
            if empty:
                return f"record {i + offset} column(s) {_listing([repr(n) for n in empty])} hold no value (empty, null or NaN)"
        return ""


__all__ = ["ModelRunner"]
