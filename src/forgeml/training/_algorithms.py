"""The built-in algorithms: their hyperparameters (names, types, defaults, ranges) as data.

Names follow SageMaker's built-in algorithms where one exists (XGBoost, LightGBM, Linear Learner,
k-means, k-NN, Random Cut Forest's anomaly-detection role); defaults are SageMaker's documented
defaults where it documents one, else the library's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forgeml.errors import ValidationError
from forgeml.training._hyperparams import Param, validate_hyperparameters

_PREDICTOR = ("auto", "classifier", "regressor")


@dataclass(frozen=True)
class Algorithm:
    """One built-in algorithm.

    Attributes:
        name: the name given as ``algorithm=``.
        description: one line.
        supervised: whether it needs a ``target`` column.
        iterative: whether it reports metrics per iteration (and can checkpoint and stop early).
        params: its hyperparameters.
    """

    name: str
    description: str
    supervised: bool
    iterative: bool
    params: tuple[Param, ...] = field(default_factory=tuple)

    def validate(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """All hyperparameters, given ones checked, the rest defaulted."""
        return validate_hyperparameters(self.name, self.params, given)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "supervised": self.supervised,
            "iterative": self.iterative, "hyperparameters": [p.to_dict() for p in self.params],
        }  # fmt: skip


_ES = "stop when the validation objective has not improved for this many iterations (needs a validation channel)"

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("xgboost", "gradient-boosted trees (XGBoost); binary, multiclass or regression by target", True, True, (
            Param("num_round", "int", 100, 1, 100_000, help="number of boosting rounds"),
            Param("eta", "float", 0.3, 0, 1, help="step size shrinkage (learning rate)"),
            Param("max_depth", "int", 6, 0, 64, help="maximum tree depth (0: no limit)"),
            Param("min_child_weight", "float", 1.0, 0, None, help="minimum sum of instance weight in a child"),
            Param("subsample", "float", 1.0, 0, 1, low_open=True, help="row subsample ratio per tree"),
            Param("colsample_bytree", "float", 1.0, 0, 1, low_open=True, help="column subsample ratio per tree"),
            Param("gamma", "float", 0.0, 0, None, help="minimum loss reduction to split"),
            Param("alpha", "float", 0.0, 0, None, help="L1 regularization"),
            Param("lambda", "float", 1.0, 0, None, help="L2 regularization"),
            Param("scale_pos_weight", "float", 1.0, 0, None, low_open=True, help="weight of positive examples"),
            Param("max_delta_step", "float", 0.0, 0, None, help="maximum delta step per leaf"),
            Param("tree_method", "str", "hist", choices=("auto", "exact", "approx", "hist"), help="tree construction algorithm"),
            Param("objective", "str", None, nullable=True, choices=(
                "binary:logistic", "multi:softprob", "reg:squarederror", "reg:absoluteerror", "reg:logistic",
            ), help="learning objective (default: from the target)"),
            Param("early_stopping_rounds", "int", None, 1, None, nullable=True, help=_ES),
        )),
        Algorithm("lightgbm", "gradient-boosted trees (LightGBM); binary, multiclass or regression by target", True, True, (
            Param("num_boost_round", "int", 100, 1, 100_000, help="maximum number of boosting iterations"),
            Param("early_stopping_rounds", "int", 10, None, None, help=_ES + "; <= 0 turns it off"),
            Param("learning_rate", "float", 0.1, 0, 1, low_open=True, high_open=True, help="shrinkage rate"),
            Param("num_leaves", "int", 64, 2, 131_072, help="maximum leaves per tree"),
            Param("feature_fraction", "float", 0.9, 0, 1, low_open=True, help="column subsample per tree"),
            Param("bagging_fraction", "float", 0.9, 0, 1, low_open=True, help="row subsample"),
            Param("bagging_freq", "int", 1, 0, None, help="bagging every k iterations (0: off)"),
            Param("max_depth", "int", 6, -1, None, help="maximum tree depth (-1: no limit)"),
            Param("min_data_in_leaf", "int", 3, 0, None, help="minimum rows per leaf"),
            Param("lambda_l1", "float", 0.0, 0, None, help="L1 regularization"),
            Param("lambda_l2", "float", 0.0, 0, None, help="L2 regularization"),
            Param("min_gain_to_split", "float", 0.0, 0, None, help="minimum gain to split"),
            Param("boosting", "str", "gbdt", choices=("gbdt", "rf", "dart"), help="boosting type"),
            Param("metric", "str", "auto", choices=(
                "auto", "rmse", "l1", "l2", "binary_logloss", "binary_error", "auc", "multi_logloss", "multi_error",
            ), help="validation metric (auto: from the target)"),
        )),
        Algorithm("linear-learner", "linear or logistic regression trained by SGD, one epoch per iteration", True, True, (
            Param("predictor_type", "str", "auto", choices=("auto", "binary_classifier", "multiclass_classifier", "regressor"),
                  help="regressor = linear regression, *_classifier = logistic regression"),
            Param("epochs", "int", 15, 1, 10_000, help="passes over the training data"),
            Param("learning_rate", "float", 0.01, 0, 10, low_open=True, help="initial SGD step size"),
            Param("mini_batch_size", "int", 1000, 1, None, help="rows per SGD step"),
            Param("l1", "float", 0.0, 0, None, help="L1 regularization"),
            Param("wd", "float", 0.0001, 0, None, help="L2 regularization (weight decay)"),
            Param("normalize_data", "bool", True, help="standardize features first"),
            Param("early_stopping_patience", "int", 3, 1, None, help=_ES),
            Param("early_stopping_tolerance", "float", 0.001, 0, None, help="relative improvement that counts"),
        )),
        Algorithm("random-forest", "random forest of decision trees, grown in chunks (one chunk per iteration)", True, True, (
            Param("num_trees", "int", 100, 1, 10_000, help="number of trees"),
            Param("max_depth", "int", None, 1, None, nullable=True, help="maximum tree depth (null: no limit)"),
            Param("min_samples_leaf", "int", 1, 1, None, help="minimum rows per leaf"),
            Param("max_features", "str", "sqrt", choices=("sqrt", "log2", "all"), help="features tried per split"),
            Param("predictor_type", "str", "auto", choices=_PREDICTOR, help="classifier or regressor (auto: from the target)"),
            Param("trees_per_iteration", "int", 10, 1, None, help="trees added per iteration"),
        )),
        Algorithm("kmeans", "k-means clustering (unsupervised)", False, False, (
            Param("k", "int", 8, 1, 10_000, help="number of clusters"),
            Param("init_method", "str", "kmeans++", choices=("kmeans++", "random"), help="initialization"),
            Param("max_iterations", "int", 300, 1, None, help="Lloyd iterations per run"),
            Param("local_init_runs", "int", 1, 1, 100, help="independent runs, best kept"),
        )),
        Algorithm("isolation-forest", "isolation forest anomaly scores (the anomaly-detection role of Random Cut Forest)", False, False, (
            Param("num_trees", "int", 100, 1, 10_000, help="number of trees"),
            Param("num_samples_per_tree", "int", 256, 2, None, help="rows sampled per tree"),
            Param("feature_fraction", "float", 1.0, 0, 1, low_open=True, help="features per tree"),
        )),
        Algorithm("knn", "k-nearest neighbours classifier or regressor", True, False, (
            Param("k", "int", 5, 1, 1024, help="number of neighbours"),
            Param("predictor_type", "str", "auto", choices=_PREDICTOR, help="classifier or regressor (auto: from the target)"),
            Param("weights", "str", "uniform", choices=("uniform", "distance"), help="neighbour weighting"),
            Param("normalize_data", "bool", True, help="standardize features first"),
        )),
    )
}


def get_algorithm(name: str) -> Algorithm:
    """The built-in algorithm called ``name``.

    Raises:
        ValidationError: naming the unknown algorithm and the known ones.
    """
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        raise ValidationError(f"unknown algorithm {name!r} (built-in: {', '.join(ALGORITHMS)})") from None


__all__ = ["ALGORITHMS", "Algorithm", "get_algorithm"]
