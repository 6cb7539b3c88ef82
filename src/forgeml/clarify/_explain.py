"""SHAP explanations and partial dependence of a ForgeML model package.

Explanations are in terms of the **model's input features after the packaged recipe** (what
``LoadedModel.prepare(frame)`` returns): that is what the estimator sees, and where SHAP's
additivity holds. Raw columns that a recipe expands (one-hot encoding, say) are not folded back.

Methods: ``tree`` (``shap.TreeExplainer``, exact, for tree ensembles), ``kernel``
(``shap.KernelExplainer`` over a k-means baseline of ``num_clusters`` centres, as Clarify does; missing
baseline values are filled with column medians first) and
``permutation`` (``shap.PermutationExplainer`` over the same baseline); ``auto`` picks ``tree``
when the estimator is a tree ensemble SHAP understands, else ``kernel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ModelError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.registry.package import LoadedModel

METHODS = ("auto", "tree", "kernel", "permutation")
AGG_METHODS = ("mean_abs", "median", "mean_sq")


@dataclass
class Explanation:
    """Result of :func:`explain`: the analysis.json ``explanations`` part and local values."""

    analysis: dict[str, Any]
    local: pd.DataFrame | None


def aggregate(values: np.ndarray, agg_method: str) -> np.ndarray:
    """Global attribution per feature from local values ``(rows, features)`` (Clarify's agg_method).

    ``mean_abs`` = mean |v|, ``median`` = median v, ``mean_sq`` = mean v².
    """
    if agg_method == "mean_abs":
        return np.abs(values).mean(axis=0)
    if agg_method == "median":
        return np.median(values, axis=0)
    if agg_method == "mean_sq":
        return (values**2).mean(axis=0)
    raise ValidationError(f"unknown agg_method {agg_method!r} (expected one of {', '.join(AGG_METHODS)})")


def _numeric(X: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    bad = [str(c) for c, t in X.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
    if bad:
        raise ValidationError(f"SHAP needs numeric model inputs; after the recipe these are not: {', '.join(bad)}")
    return X.astype("float64")


def _tree_explainer(estimator: Any, classifier: bool, use_logit: bool, background: pd.DataFrame) -> Any:
    import shap

    if classifier and not use_logit:
        return shap.TreeExplainer(estimator, data=background, feature_perturbation="interventional", model_output="probability")
    return shap.TreeExplainer(estimator)


def _model_fn(estimator: Any, columns: list[str], classifier: bool):  # type: ignore[no-untyped-def]
    import pandas as pd

    def fn(x: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(np.asarray(x, dtype=float), columns=columns)
        return np.asarray(estimator.predict_proba(frame) if classifier else estimator.predict(frame), dtype=float)

    return fn


def explain(
    model: LoadedModel,
    frame: pd.DataFrame,
    *,
    method: str = "auto",
    max_rows: int | None = 100,
    baseline: pd.DataFrame | None = None,
    num_clusters: int = 10,
    num_samples: int | None = None,
    agg_method: str = "mean_abs",
    use_logit: bool = False,
    seed: int = 0,
    save_local: bool = True,
    top_k_features: int = 5,
    pdp_features: list[str] | None = None,
    grid_resolution: int = 15,
) -> Explanation:
    """Local and global SHAP values (and partial dependence) of a model package on ``frame``.

    Args:
        model: the loaded package.
        frame: raw input rows (the recipe is applied); ``max_rows`` of them (random, ``seed``) are explained.
        method: ``auto`` | ``tree`` | ``kernel`` | ``permutation``.
        baseline: rows for the baseline (default: ``frame``), summarized by k-means (kernel, permutation)
            or sampled to 100 rows (tree, probability output).
        num_clusters: k-means centres of the baseline.
        num_samples: kernel SHAP coalitions per row (default shap's "auto").
        agg_method: ``mean_abs`` | ``median`` | ``mean_sq``.
        use_logit: classifiers: explain log-odds instead of probabilities.
        save_local: return the per-row values.
        top_k_features: partial dependence for the k features with the largest global values (0: none).
        pdp_features: explicit partial-dependence features (overrides ``top_k_features``).
        grid_resolution: partial-dependence grid points per numeric feature.

    Raises:
        ValidationError: bad options, non-numeric or missing model inputs.
        ModelError: SHAP or the model failed.
    """
    import pandas as pd
    import shap

    if method not in METHODS:
        raise ValidationError(f"unknown explanation method {method!r} (expected one of {', '.join(METHODS)})")
    aggregate(np.zeros((1, 1)), agg_method)  # validates the name
    task = model.manifest.task
    if task not in ("binary", "multiclass", "regression"):
        raise ValidationError(f"explanations support binary, multiclass and regression models, not {task!r}")
    if len(frame) == 0:
        raise ValidationError("no rows to explain")
    classifier = task != "regression"
    rows = frame if max_rows is None or len(frame) <= max_rows else frame.sample(n=max_rows, random_state=seed)
    X = _numeric(model.prepare(rows).reset_index(drop=True))
    Xb = _numeric(model.prepare(baseline if baseline is not None else frame).reset_index(drop=True))
    columns = [str(c) for c in X.columns]
    estimator = model.model
    chosen = method
    explainer: Any = None
    if method in ("auto", "tree"):
        try:
            bg = Xb.sample(n=min(100, len(Xb)), random_state=seed)
            explainer = _tree_explainer(estimator, classifier, use_logit, bg)
            chosen = "tree"
        except Exception as exc:  # shap raises assorted types for models it does not support
            if method == "tree":
                raise ValidationError(f"TreeExplainer does not support {type(estimator).__name__}: {exc}") from None
            chosen = "kernel"
    try:
        if chosen == "tree":
            raw = explainer.shap_values(X, check_additivity=False) if not (classifier and not use_logit) else explainer.shap_values(X)
            expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
        else:
            # k-means cannot take missing values: the baseline's gaps get column medians (0 if all missing)
            filled = Xb.fillna(Xb.median()).fillna(0.0)
            summary = shap.kmeans(filled.to_numpy(), min(num_clusters, len(filled)))
            fn = _model_fn(estimator, columns, classifier)
            if chosen == "kernel":
                explainer = shap.KernelExplainer(fn, summary, link="logit" if (classifier and use_logit) else "identity", seed=seed)
                raw = explainer.shap_values(X.to_numpy(), nsamples=num_samples or "auto", silent=True)
                expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
            else:
                masker = shap.maskers.Independent(summary.data, max_samples=len(summary.data))
                link = shap.links.logit if (classifier and use_logit) else shap.links.identity
                explainer = shap.PermutationExplainer(fn, masker, link=link, seed=seed)
                result = explainer(X.to_numpy(), max_evals=max(num_samples or 0, 2 * X.shape[1] + 1), silent=True)
                raw = result.values
                expected = np.atleast_1d(np.asarray(result.base_values, dtype=float).reshape(len(X), -1)[0])
    except (ValueError, TypeError, IndexError) as exc:
        raise ModelError(f"SHAP failed on {type(estimator).__name__}: {type(exc).__name__}: {exc}") from None
    values = _per_output(raw, len(X), len(columns))
    headers = _headers(model, classifier, values.shape[2])
    if classifier and values.shape[2] == 2 and task == "binary":  # explain the positive class only
        values, expected, headers = values[:, :, 1:], expected[-1:], headers[1:]
    elif len(expected) != values.shape[2]:
        expected = np.resize(expected, values.shape[2])
    outputs = {}
    for k, header in enumerate(headers):
        glob = aggregate(values[:, :, k], agg_method)
        outputs[header] = {
            "global_shap_values": {c: float(v) for c, v in zip(columns, glob, strict=True)},
            "expected_value": float(expected[k]),
        }
    key = {"tree": "tree_shap", "kernel": "kernel_shap", "permutation": "permutation_shap"}[chosen]
    analysis: dict[str, Any] = {
        key: outputs,
        "method": chosen,
        "agg_method": agg_method,
        "use_logit": use_logit,
        "rows_explained": len(X),
        "feature_space": "model inputs after the packaged recipe",
        "features": columns,
    }
    if chosen == "tree" and classifier and use_logit:
        analysis["output"] = "raw margin (log-odds for boosted trees)"
    elif classifier:
        analysis["output"] = "log-odds" if use_logit else "probability"
    else:
        analysis["output"] = "prediction"
    first = headers[0]
    order = sorted(columns, key=lambda c: -abs(outputs[first]["global_shap_values"][c]))
    features = pdp_features if pdp_features is not None else order[: max(top_k_features, 0)]
    if features:
        analysis["pdp"] = partial_dependence(estimator, X, features, classifier, grid_resolution, headers, task)
    local = None
    if save_local:
        if values.shape[2] == 1:
            local = pd.DataFrame(values[:, :, 0], columns=columns)
        else:
            local = pd.DataFrame(values.reshape(len(X), -1), columns=[f"{c}_{h}" for c in columns for h in headers])
    return Explanation(analysis, local)


def _per_output(raw: Any, n: int, m: int) -> np.ndarray:
    """SHAP's many shapes as ``(rows, features, outputs)``."""
    if isinstance(raw, list):
        return np.stack([np.asarray(r, dtype=float) for r in raw], axis=2)
    arr = np.asarray(raw, dtype=float)
    if arr.ndim == 2:
        return arr.reshape(n, m, 1)
    return arr


def _headers(model: LoadedModel, classifier: bool, k: int) -> list[str]:
    if not classifier:
        return ["label0"]
    classes = model.manifest.classes or list(getattr(model.model, "classes_", range(k)))
    if k == 1 and len(classes) == 2:  # one margin output of a binary model: the positive class
        classes = classes[1:]
    if len(classes) == k:
        return [str(c.item() if hasattr(c, "item") else c) for c in classes]
    return [f"label{i}" for i in range(k)]


def partial_dependence(
    estimator: Any, X: pd.DataFrame, features: list[str], classifier: bool, grid_resolution: int, headers: list[str], task: str
) -> list[dict[str, Any]]:
    """Clarify-style PDP entries: grid values and the average prediction per output."""
    from sklearn.inspection import partial_dependence as sk_pdp

    missing = [f for f in features if f not in X.columns]
    if missing:
        raise ValidationError(f"partial dependence feature(s) not among the model inputs: {', '.join(missing)}")
    out = []
    for feature in features:
        try:
            res = sk_pdp(estimator, X, [feature], grid_resolution=grid_resolution, kind="average", method="brute",
                         response_method="predict_proba" if classifier else "auto")  # fmt: skip
        except (ValueError, TypeError, AttributeError) as exc:
            raise ModelError(f"partial dependence of {feature!r} failed: {exc}") from None
        avg = np.asarray(res["average"], dtype=float)
        out.append({
            "feature_name": feature,
            "data_type": "numerical",
            "feature_values": [float(v) for v in res["grid_values"][0]],
            "model_predictions": [[float(v) for v in row] for row in avg],
            "label_headers": headers if avg.shape[0] == len(headers) else [f"label{i}" for i in range(avg.shape[0])],
        })  # fmt: skip
    return out


__all__ = ["AGG_METHODS", "METHODS", "Explanation", "aggregate", "explain", "partial_dependence"]
