"""Categorical encoding: one-hot (with unseen-category handling), ordinal, target and frequency.

Categories are compared by a canonical string key (``1``, ``1.0`` and ``"1"`` are one category;
missing values are the category ``__missing__``), so a fitted encoder reads the same from JSON.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from forgeml.data._recipe_base import MISSING, Step, category_keys, unique_names
from forgeml.errors import ValidationError


class Encode(Step):
    """Encode categorical columns.

    Methods:
        onehot: one 0/1 column per category seen at fit (``<col>_<category>``). Unseen categories
            give all zeros (``handle_unknown="ignore"``), raise (``"error"``), or go to a
            ``<col>_infrequent`` column (``"infrequent"``, which also takes categories rarer than
            ``min_frequency`` or beyond ``max_categories``).
        ordinal: category -> 0..k-1 in sorted order (or the given ``order``); unseen -> ``unknown_value``.
        target: smoothed target mean ``(sum_y + smooth * mean_y) / (n + smooth)`` (scikit-learn's
            TargetEncoder with a fixed ``smooth``); unseen -> the global mean. Binary or numeric targets.
        frequency: category -> share of training rows; unseen -> 0.
    """

    type: Literal["encode"] = "encode"
    method: Literal["onehot", "ordinal", "target", "frequency"] = "onehot"
    handle_unknown: Literal["ignore", "error", "infrequent"] = "ignore"
    min_frequency: int | float | None = Field(default=None, gt=0)
    max_categories: int | None = Field(default=None, ge=1)
    order: dict[str, list[Any]] | None = None
    unknown_value: float = -1.0
    smooth: float = Field(default=10.0, ge=0)
    keep: bool = False

    default_columns: ClassVar[str] = "categorical"

    def fit(self, frame: Any, y: Any) -> dict[str, Any]:
        columns = self.resolve_columns(frame)
        taken = {str(c) for c in frame.columns}
        state: dict[str, Any] = {"columns": columns, "maps": {}, "outputs": {}}
        if self.method == "target":
            y_num, state["target_mean"] = _numeric_target(y)
        for col in columns:
            keys = category_keys(frame[col])
            counts = keys.value_counts()
            if self.method == "onehot":
                cats = sorted(counts.index)
                frequent = cats
                if self.handle_unknown == "infrequent":
                    threshold = self.min_frequency or 0
                    if isinstance(threshold, float):
                        threshold *= len(keys)
                    ranked = sorted((c for c in cats if counts[c] >= threshold), key=lambda c: (-counts[c], c))
                    frequent = sorted(ranked[: self.max_categories] if self.max_categories else ranked)
                labels = [*frequent, "infrequent"] if self.handle_unknown == "infrequent" else frequent
                state["maps"][col] = frequent
                state["outputs"][col] = unique_names(col, [c if c != MISSING else "nan" for c in labels], taken)
            elif self.method == "ordinal":
                given = (self.order or {}).get(col)
                cats = category_keys(_series(given)).tolist() if given else sorted(c for c in counts.index if c != MISSING)
                state["maps"][col] = {c: float(i) for i, c in enumerate(cats)}
            elif self.method == "frequency":
                state["maps"][col] = {c: float(n) / len(keys) for c, n in counts.items()}
            else:
                state["maps"][col] = _target_map(keys, y_num, self.smooth)
        return state

    def apply(self, frame: Any, state: dict[str, Any], training: bool) -> Any:
        import numpy as np
        import pandas as pd

        frame = frame.copy()
        new: dict[str, Any] = {}
        for col in state["columns"]:
            keys = category_keys(frame[col])
            mapping = state["maps"][col]
            if self.method == "onehot":
                known = set(mapping)
                unseen = ~keys.isin(known)
                if self.handle_unknown == "error" and unseen.any():
                    raise ValidationError(f"column {col!r}: unseen category {keys[unseen].iloc[0]!r}")
                outputs = state["outputs"][col]
                for cat, out in zip(mapping, outputs, strict=False):
                    new[out] = (keys == cat).to_numpy(dtype="float64")
                if self.handle_unknown == "infrequent":
                    new[outputs[-1]] = unseen.to_numpy(dtype="float64")
            else:
                default = {"ordinal": self.unknown_value, "frequency": 0.0}.get(self.method, state.get("target_mean"))
                new[col if not self.keep else f"{col}_{self.method}"] = (
                    keys.map(mapping).astype("float64").fillna(default).to_numpy(dtype="float64", na_value=np.nan)
                )
        if not self.keep:
            frame = frame.drop(columns=state["columns"])
        return pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)


def _series(values: list[Any]) -> Any:
    import pandas as pd

    return pd.Series(values, dtype=object)


def _numeric_target(y: Any) -> tuple[Any, float]:
    import numpy as np
    import pandas as pd

    if y is None:
        raise ValidationError("step 'encode' with method 'target' needs a target (recipe.fit(frame, target=...))")
    if pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(y.dtype):
        values = y.astype("float64").to_numpy(na_value=np.nan)
    else:
        classes = sorted(pd.unique(y.dropna()).tolist(), key=str)
        if len(classes) > 2:
            raise ValidationError("target encoding supports binary or numeric targets, not multiclass labels")
        values = (y == classes[-1]).astype("float64").to_numpy()
    return values, float(np.nanmean(values))


def _target_map(keys: Any, y: Any, smooth: float) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    ok = ~np.isnan(y)
    df = pd.DataFrame({"k": keys.to_numpy()[ok], "y": y[ok]})
    mean = float(df["y"].mean())
    grouped = df.groupby("k")["y"].agg(["sum", "count"])
    enc = (grouped["sum"] + smooth * mean) / (grouped["count"] + smooth)
    return {str(k): float(v) for k, v in enc.items()}


__all__ = ["Encode"]
