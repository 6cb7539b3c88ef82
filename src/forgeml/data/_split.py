"""Splits (random, stratified, temporal, by key/group, k-fold) and class balancing.

Follows Data Wrangler's split transform: two or three parts whose fractions sum to 1, a seed,
stratification on at most 100 distinct values, and key splits where no key lands in two parts.
Balancing: class weights (scikit-learn's ``balanced``), random over/under-sampling and SMOTE
(imbalanced-learn; SMOTENC when there are categorical columns).
"""

from __future__ import annotations

import math
from typing import Any

from forgeml.errors import ValidationError

METHODS = ("random", "stratified", "temporal", "group")
NAMES = ("train", "validation", "test")
MAX_STRATA = 100


def _check_fractions(fractions: list[float] | tuple[float, ...]) -> list[float]:
    fr = [float(f) for f in fractions]
    if len(fr) not in (2, 3) or any(f <= 0 for f in fr) or not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise ValidationError(f"split fractions must be 2 or 3 positive numbers summing to 1, got {list(fractions)}")
    return fr


def _need(frame: Any, column: str | None, what: str) -> str:
    if column is None:
        raise ValidationError(f"{what} split needs a column (e.g. --{'target' if what == 'stratified' else 'time-column' if what == 'temporal' else 'group-column'})")
    if column not in frame.columns:
        raise ValidationError(f"{what} split: column {column!r} not in the data")
    return column


def split(
    frame: Any,
    method: str = "random",
    fractions: list[float] | tuple[float, ...] = (0.7, 0.15, 0.15),
    *,
    target: str | None = None,
    time_column: str | None = None,
    cutoffs: list[Any] | None = None,
    group_column: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Split ``frame`` into ``train``/``validation``/``test`` (or ``train``/``test`` for two fractions).

    Args:
        method: ``random``, ``stratified`` (on ``target``), ``temporal`` (on ``time_column``:
            older rows train, newer rows test; explicit ``cutoffs`` or time quantiles from
            ``fractions``) or ``group`` (no value of ``group_column`` in two parts).
        fractions: 2 or 3 shares summing to 1.

    Returns:
        Part name -> frame (original index kept).

    Raises:
        ValidationError: bad method, fractions or columns; too many strata; a part would be empty.
    """
    import numpy as np
    import pandas as pd

    if method not in METHODS:
        raise ValidationError(f"unknown split method {method!r} (known: {', '.join(METHODS)})")
    names = NAMES if len(fractions) == 3 else ("train", "test")
    if method == "temporal" and cutoffs is not None:
        fr = [1.0] * (len(cutoffs) + 1)
        names = NAMES if len(cutoffs) == 2 else ("train", "test")
    else:
        fr = _check_fractions(fractions)
    if len(frame) < len(fr):
        raise ValidationError(f"cannot split {len(frame)} row(s) into {len(fr)} parts")
    rng = np.random.default_rng(seed)
    n = len(frame)
    labels = np.empty(n, dtype=object)
    if method == "random":
        order = rng.permutation(n)
        labels[order] = _assign(n, fr, names)
    elif method == "stratified":
        col = _need(frame, target, "stratified")
        keys = frame[col].astype(object).where(frame[col].notna(), "__missing__")
        strata = pd.unique(keys)
        if len(strata) > MAX_STRATA:
            raise ValidationError(f"stratified split: {col!r} has {len(strata)} distinct values (at most {MAX_STRATA})")
        for value in strata:
            idx = np.flatnonzero((keys == value).to_numpy())
            idx = idx[rng.permutation(len(idx))]
            labels[idx] = _assign(len(idx), fr, names)
    elif method == "temporal":
        col = _need(frame, time_column, "temporal")
        times = frame[col]
        if cutoffs is None:
            ordered = times.sort_values(kind="stable")
            bounds = np.cumsum(fr)[:-1]
            cutoffs = [ordered.iloc[min(round(b * n), n - 1)] for b in bounds]
        else:
            cutoffs = [pd.Timestamp(c) if pd.api.types.is_datetime64_any_dtype(times.dtype) else c for c in cutoffs]
            if list(cutoffs) != sorted(cutoffs):
                raise ValidationError("temporal split: cutoffs must be increasing")
        part = np.zeros(n, dtype=int)
        for c in cutoffs:
            part += (times >= c).to_numpy()
        labels = np.array([names[p] for p in part], dtype=object)
    else:
        col = _need(frame, group_column, "group")
        groups = frame[col].astype(object).where(frame[col].notna(), "__missing__").to_numpy()
        uniq = pd.unique(groups)
        if len(uniq) < len(fr):
            raise ValidationError(f"group split: {col!r} has {len(uniq)} group(s), fewer than {len(fr)} parts")
        uniq = uniq[rng.permutation(len(uniq))]
        sizes = pd.Series(groups).value_counts()
        # fill parts group by group to row shares (greedy on the shuffled order)
        targets = np.array(fr) * n
        filled = np.zeros(len(fr))
        assignment = {}
        for i, g in enumerate(uniq):
            # every part gets one group first, then each group goes to the part furthest below its share
            k = i if i < len(fr) else int(np.argmax(targets - filled))
            assignment[g] = names[k]
            filled[k] += sizes[g]
        labels = np.array([assignment[g] for g in groups], dtype=object)
    parts = {name: frame[labels == name] for name in names}
    empty = [k for k, v in parts.items() if len(v) == 0]
    if empty:
        raise ValidationError(f"split would leave {', '.join(empty)} empty; use more rows or other fractions/cutoffs")
    return parts


def _assign(n: int, fractions: list[float], names: tuple[str, ...]) -> list[str]:
    """Part labels for ``n`` shuffled rows, sizes by largest remainder."""
    raw = [f * n for f in fractions]
    sizes = [math.floor(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: -(raw[i] - sizes[i]))[: n - sum(sizes)]:
        sizes[i] += 1
    out: list[str] = []
    for name, size in zip(names, sizes, strict=True):
        out.extend([name] * size)
    return out


def kfold(frame: Any, k: int = 5, *, target: str | None = None, group_column: str | None = None, seed: int = 0) -> list[tuple[Any, Any]]:
    """``k`` (train_index, test_index) pairs of index labels: stratified on ``target`` or grouped by
    ``group_column`` when given (scikit-learn StratifiedKFold / GroupKFold / KFold)."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    if k < 2 or k > len(frame):
        raise ValidationError(f"k-fold needs 2 <= k <= rows, got k={k} for {len(frame)} rows")
    if target is not None and group_column is not None:
        raise ValidationError("k-fold: give target (stratified) or group_column, not both")
    if target is not None:
        _need(frame, target, "stratified")
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(frame, frame[target])
    elif group_column is not None:
        _need(frame, group_column, "group")
        folds = GroupKFold(n_splits=k).split(frame, groups=frame[group_column])
    else:
        folds = KFold(n_splits=k, shuffle=True, random_state=seed).split(frame)
    return [(frame.index[tr], frame.index[te]) for tr, te in folds]


def class_weights(y: Any) -> dict[Any, float]:
    """scikit-learn's ``balanced`` weights: ``n_samples / (n_classes * count(class))``."""
    import numpy as np
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.unique(np.asarray(y))
    weights = compute_class_weight("balanced", classes=classes, y=np.asarray(y))
    return {c.item() if hasattr(c, "item") else c: float(w) for c, w in zip(classes, weights, strict=True)}


def rebalance(frame: Any, target: str, method: str = "oversample", *, seed: int = 0, k_neighbors: int = 5) -> Any:
    """Resample a training frame: ``oversample`` / ``undersample`` (random) or ``smote``.

    SMOTE interpolates numeric columns; with categorical columns it uses SMOTENC (categories from
    the nearest neighbours' majority). Missing values must be imputed first for SMOTE.

    Raises:
        ValidationError: unknown method, missing target, or NaNs for SMOTE.
    """
    import pandas as pd
    from imblearn.over_sampling import SMOTE, SMOTENC, RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    if target not in frame.columns:
        raise ValidationError(f"rebalance: target {target!r} not in the data")
    X, y = frame.drop(columns=[target]), frame[target]
    if method == "oversample":
        sampler: Any = RandomOverSampler(random_state=seed)
    elif method == "undersample":
        sampler = RandomUnderSampler(random_state=seed)
    elif method == "smote":
        if X.isna().any().any():
            raise ValidationError("SMOTE needs complete rows: impute missing values first")
        minority = int(y.value_counts().min())
        k = max(1, min(k_neighbors, minority - 1))
        cats = [i for i, t in enumerate(X.dtypes) if not pd.api.types.is_numeric_dtype(t)]
        sampler = SMOTENC(categorical_features=cats, k_neighbors=k, random_state=seed) if cats else SMOTE(k_neighbors=k, random_state=seed)
    else:
        raise ValidationError(f"unknown rebalance method {method!r} (oversample, undersample, smote)")
    Xr, yr = sampler.fit_resample(X, y)
    out = pd.DataFrame(Xr, columns=X.columns).astype(X.dtypes.to_dict(), errors="ignore")
    out[target] = pd.Series(yr).to_numpy()
    return out.reset_index(drop=True)


__all__ = ["METHODS", "class_weights", "kfold", "rebalance", "split"]
