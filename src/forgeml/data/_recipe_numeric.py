"""Numeric recipe steps: impute, outliers, scale, bin, log and power transforms.

Statistics come from scikit-learn where it has the estimator (SimpleImputer, the four scalers,
PowerTransformer); what they learned is kept as plain numbers so a fitted recipe is JSON, and the
transform is the same closed-form expression at fit and at serving time.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from forgeml.data._recipe_base import Step, floats, json_scalar, numeric, unfloat
from forgeml.errors import ValidationError


class Impute(Step):
    """Fill missing values (mean, median, mode, constant, forward fill); optional ``<col>_missing`` flag.

    Forward fill follows row order (or ``order_by``); values still missing (the first rows, or a
    single row at serving) get the last non-missing value seen at fit time.
    """

    type: Literal["impute"] = "impute"
    strategy: Literal["mean", "median", "mode", "constant", "ffill"] = "mean"
    fill_value: float | int | str | bool | None = None
    indicator: bool = False
    order_by: str | None = None

    default_columns: ClassVar[str] = "all"

    @model_validator(mode="after")
    def _check(self) -> Impute:
        if self.strategy == "constant" and self.fill_value is None:
            raise ValueError("strategy 'constant' needs fill_value")
        return self

    def fit(self, frame: Any, y: Any) -> dict[str, Any]:
        import pandas as pd

        columns = self.resolve_columns(frame)
        if self.columns is None and self.strategy in ("mean", "median"):
            columns = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c].dtype)]
        values: dict[str, Any] = {}
        for col in columns:
            series = frame[col]
            if self.strategy == "constant":
                values[col] = self.fill_value
            elif self.strategy in ("mean", "median"):
                data = numeric(frame, col)
                values[col] = json_scalar(_sk_impute(data, self.strategy))
            elif self.strategy == "mode":
                counts = series.dropna().value_counts(sort=False)
                values[col] = json_scalar(sorted(counts[counts == counts.max()].index)[0]) if len(counts) else None
            else:
                ordered = series if self.order_by is None else series.loc[frame[self.order_by].sort_values(kind="stable").index]
                rest = ordered.dropna()
                values[col] = json_scalar(rest.iloc[-1]) if len(rest) else None
        return {"columns": columns, "values": values}

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        import pandas as pd

        frame = frame.copy()
        for col in state["columns"]:
            series = frame[col]
            if self.indicator:
                frame[f"{col}_missing"] = series.isna().astype("float64")
            if self.strategy == "ffill":
                if self.order_by is not None:
                    order = frame[self.order_by].sort_values(kind="stable").index
                    series = series.loc[order].ffill().reindex(frame.index)
                else:
                    series = series.ffill()
            value = state["values"][col]
            if value is not None:
                if pd.api.types.is_datetime64_any_dtype(series.dtype):
                    value = pd.Timestamp(value)
                elif pd.api.types.is_integer_dtype(series.dtype) and isinstance(value, float) and not value.is_integer():
                    series = series.astype("float64")
                series = series.fillna(value)
            frame[col] = series
        return frame


def _sk_impute(data: Any, strategy: str) -> float:
    import numpy as np
    from sklearn.impute import SimpleImputer

    if np.isnan(data).all():
        return float("nan")
    imputer = SimpleImputer(strategy=strategy).fit(data.reshape(-1, 1))
    return float(imputer.statistics_[0])


class Outliers(Step):
    """Clip, remove or invalidate values outside fitted bounds.

    Methods: ``std`` (mean ± factor·std), ``robust_std`` (median ± factor·1.4826·MAD), ``iqr``
    (Q1 - factor·IQR, Q3 + factor·IQR), ``quantile`` (the ``lower``/``upper`` quantiles). Action
    ``remove`` drops rows only at fit/training time; at serving it is a no-op.
    """

    type: Literal["outliers"] = "outliers"
    method: Literal["std", "robust_std", "iqr", "quantile"] = "std"
    factor: float | None = Field(default=None, gt=0)
    lower: float = Field(default=0.01, ge=0, le=1)
    upper: float = Field(default=0.99, ge=0, le=1)
    action: Literal["clip", "remove", "invalidate"] = "clip"

    @property
    def removes_rows(self) -> bool:  # type: ignore[override]
        return self.action == "remove"

    def fit(self, frame: Any, y: Any) -> dict[str, Any]:
        import numpy as np

        columns = self.resolve_columns(frame)
        bounds: dict[str, list[float | None]] = {}
        for col in columns:
            x = numeric(frame, col)
            x = x[~np.isnan(x)]
            if x.size == 0:
                bounds[col] = [None, None]
                continue
            if self.method == "std":
                k = self.factor or 3.0
                lo, hi = x.mean() - k * x.std(), x.mean() + k * x.std()
            elif self.method == "robust_std":
                k = self.factor or 3.0
                med = np.median(x)
                mad = 1.4826 * np.median(np.abs(x - med))
                lo, hi = med - k * mad, med + k * mad
            elif self.method == "iqr":
                k = self.factor or 1.5
                q1, q3 = np.quantile(x, [0.25, 0.75])
                lo, hi = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
            else:
                lo, hi = np.quantile(x, [self.lower, self.upper])
            bounds[col] = floats([lo, hi])
        return {"columns": columns, "bounds": bounds}

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        import numpy as np

        if self.action == "remove" and not training:
            return frame
        frame = frame.copy()
        keep = np.ones(len(frame), dtype=bool)
        for col in state["columns"]:
            lo, hi = unfloat(state["bounds"][col])
            if np.isnan(lo):
                continue
            x = numeric(frame, col)
            outside = (x < lo) | (x > hi)
            if self.action == "clip":
                frame[col] = np.clip(x, lo, hi)
            elif self.action == "invalidate":
                frame[col] = np.where(outside, np.nan, x)
            else:
                keep &= ~outside
        return frame[keep] if self.action == "remove" else frame


_SCALERS = {
    "standard": ("StandardScaler", "mean_", "scale_"),
    "minmax": ("MinMaxScaler", "data_min_", "data_range_"),
    "robust": ("RobustScaler", "center_", "scale_"),
    "maxabs": ("MaxAbsScaler", None, "scale_"),
}


class Scale(Step):
    """Scale numeric columns: ``(x - center) / scale`` with scikit-learn's fitted statistics.

    ``standard`` (mean, std), ``minmax`` (min, range: output in [0, 1] on the training range),
    ``robust`` (median, IQR), ``maxabs`` (0, max |x|). A zero scale becomes 1, as in scikit-learn.
    """

    type: Literal["scale"] = "scale"
    method: Literal["standard", "minmax", "robust", "maxabs"] = "standard"

    def fit(self, frame: Any, y: Any) -> dict[str, Any]:
        import numpy as np
        from sklearn import preprocessing

        columns = self.resolve_columns(frame)
        params: dict[str, list[float | None]] = {}
        cls_name, center_attr, scale_attr = _SCALERS[self.method]
        for col in columns:
            x = numeric(frame, col).reshape(-1, 1)
            if np.isnan(x).all():
                params[col] = [0.0, 1.0]
                continue
            scaler = getattr(preprocessing, cls_name)().fit(x)
            center = float(getattr(scaler, center_attr)[0]) if center_attr else 0.0
            scale = float(getattr(scaler, scale_attr)[0])
            params[col] = floats([center, scale if scale > np.finfo("float64").eps * 10 else 1.0])
        return {"columns": columns, "params": params}

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        frame = frame.copy()
        for col in state["columns"]:
            center, scale = state["params"][col]
            frame[col] = (numeric(frame, col) - center) / scale
        return frame


class Bin(Step):
    """Discretize numeric columns into bin numbers 0..k-1 (``quantile``, ``uniform`` or ``custom`` edges).

    Values outside the fitted range fall in the first or last bin; missing stays missing.
    """

    type: Literal["bin"] = "bin"
    method: Literal["quantile", "uniform", "custom"] = "quantile"
    n_bins: int = Field(default=5, ge=2, le=1000)
    edges: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> Bin:
        if self.method == "custom" and (not self.edges or len(self.edges) < 2):
            raise ValueError("method 'custom' needs at least two edges")
        if self.edges and sorted(self.edges) != self.edges:
            raise ValueError("edges must be increasing")
        return self

    def fit(self, frame: Any, y: Any) -> dict[str, Any]:
        import numpy as np

        columns = self.resolve_columns(frame)
        edges: dict[str, list[float | None]] = {}
        for col in columns:
            x = numeric(frame, col)
            x = x[~np.isnan(x)]
            if self.method == "custom":
                e = np.asarray(self.edges, dtype="float64")
            elif x.size == 0:
                e = np.array([0.0, 1.0])
            elif self.method == "uniform":
                e = np.linspace(x.min(), x.max(), self.n_bins + 1)
            else:
                e = np.unique(np.quantile(x, np.linspace(0, 1, self.n_bins + 1)))
                if e.size < 2:
                    e = np.array([e[0], e[0]])
            edges[col] = floats(e)
        return {"columns": columns, "edges": edges}

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        import numpy as np

        frame = frame.copy()
        for col in state["columns"]:
            e = unfloat(state["edges"][col])
            x = numeric(frame, col)
            idx = np.searchsorted(e[1:-1], x, side="right").astype("float64")
            idx[np.isnan(x)] = np.nan
            frame[col] = idx
        return frame


class Log(Step):
    """``log1p(x + shift)``; ``shift`` is fitted so the training minimum maps to ≥ 0 (smaller values clip to 0)."""

    type: Literal["log"] = "log"

    def fit(self, frame: Any, y: Any) -> dict[str, Any]:
        import numpy as np

        columns = self.resolve_columns(frame)
        shifts = {}
        for col in columns:
            x = numeric(frame, col)
            low = np.nanmin(x) if (~np.isnan(x)).any() else 0.0
            shifts[col] = float(max(0.0, -low))
        return {"columns": columns, "shift": shifts}

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        import numpy as np

        frame = frame.copy()
        for col in state["columns"]:
            frame[col] = np.log1p(np.maximum(numeric(frame, col) + state["shift"][col], 0.0))
        return frame


class Power(Step):
    """Yeo-Johnson or Box-Cox transform with the lambda fitted by scikit-learn's PowerTransformer (no standardizing)."""

    type: Literal["power"] = "power"
    method: Literal["yeo-johnson", "box-cox"] = "yeo-johnson"

    def fit(self, frame: Any, y: Any) -> dict[str, Any]:
        import numpy as np
        from sklearn.preprocessing import PowerTransformer

        columns = self.resolve_columns(frame)
        lambdas = {}
        for col in columns:
            x = numeric(frame, col)
            x = x[~np.isnan(x)].reshape(-1, 1)
            if self.method == "box-cox" and (x <= 0).any():
                raise ValidationError(f"step 'power': box-cox needs strictly positive values in column {col!r}")
            if x.size < 2 or np.ptp(x) == 0:
                lambdas[col] = 1.0
                continue
            lambdas[col] = float(PowerTransformer(method=self.method, standardize=False).fit(x).lambdas_[0])
        return {"columns": columns, "lambdas": lambdas}

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        frame = frame.copy()
        for col in state["columns"]:
            x = numeric(frame, col)
            lam = state["lambdas"][col]
            frame[col] = _yeo_johnson(x, lam) if self.method == "yeo-johnson" else _box_cox(x, lam)
        return frame


def _yeo_johnson(x: Any, lam: float) -> Any:
    import numpy as np

    out = np.full_like(x, np.nan)
    pos = x >= 0
    neg = x < 0
    eps = np.spacing(1.0)
    if abs(lam) < eps:
        out[pos] = np.log1p(x[pos])
    else:
        out[pos] = (np.power(x[pos] + 1, lam) - 1) / lam
    if abs(lam - 2) > eps:
        out[neg] = -(np.power(-x[neg] + 1, 2 - lam) - 1) / (2 - lam)
    else:
        out[neg] = -np.log1p(-x[neg])
    return out


def _box_cox(x: Any, lam: float) -> Any:
    import numpy as np

    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.log(x) if abs(lam) < np.spacing(1.0) else (np.power(x, lam) - 1) / lam
    return np.where(x > 0, y, np.nan)


__all__ = ["Bin", "Impute", "Log", "Outliers", "Power", "Scale"]
