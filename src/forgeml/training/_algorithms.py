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
        inputs: what it reads: ``numeric`` columns, one ``text`` column, or ``jsonlines`` records
            (DeepAR's ``start``/``target``/``cat``/``dynamic_feat`` series).
        channels: the channels it reads (the first is required).
    """

    name: str
    description: str
    supervised: bool
    iterative: bool
    params: tuple[Param, ...] = field(default_factory=tuple)
    inputs: str = "numeric"
    channels: tuple[str, ...] = ("train", "validation")

    def validate(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """All hyperparameters, given ones checked, the rest defaulted."""
        return validate_hyperparameters(self.name, self.params, given)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "supervised": self.supervised,
            "iterative": self.iterative, "hyperparameters": [p.to_dict() for p in self.params],
            "inputs": self.inputs, "channels": list(self.channels),
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
_PATIENCE = "stop when the validation loss has not improved for this many epochs (needs a validation channel)"

# the neural built-ins (torch, CPU or a discovered GPU) and PCA; SageMaker's names and defaults
# where they fit a small machine, else noted in the help text
NEURAL: tuple[Algorithm, ...] = (
    Algorithm("pca", "principal component analysis: a projection onto the top components (unsupervised)", False, False, (
        Param("num_components", "int", 2, 1, 10_000, help="number of components to keep"),
        Param("algorithm_mode", "str", "regular", choices=("regular", "randomized"), help="exact SVD or randomized SVD"),
        Param("subtract_mean", "bool", True, help="centre the data first (false: truncated SVD of the raw data)"),
        Param("extra_components", "int", -1, -1, None, help="randomized mode: oversampling components (-1: the library's default)"),
    )),
    Algorithm("factorization-machines", "factorization machine over categorical id columns (users, items, ...): "
              "binary (implicit feedback) or regression (ratings); ranking metrics on validation", True, True, (
        Param("num_factors", "int", 16, 1, 1000, help="dimension of the factor (embedding) vectors"),
        Param("predictor_type", "str", "auto", choices=("auto", "binary_classifier", "regressor"), help="binary_classifier or regressor (auto: from the target)"),
        Param("epochs", "int", 20, 1, 10_000, help="passes over the training data"),
        Param("mini_batch_size", "int", 256, 1, None, help="rows per step"),
        Param("learning_rate", "float", 0.02, 0, 10, low_open=True, help="Adam step size"),
        Param("bias_wd", "float", 0.01, 0, None, help="weight decay of the global bias"),
        Param("linear_wd", "float", 0.001, 0, None, help="weight decay of the linear terms"),
        Param("factors_wd", "float", 0.00001, 0, None, help="weight decay of the factors"),
        Param("ranking_k", "int", 10, 1, 1000, help="k of validation:ndcg_at_k and validation:hit_rate_at_k"),
        Param("ranking_group", "str", None, nullable=True, help="column grouping validation rows into one ranking (default: the first feature, the user)"),
        Param("early_stopping_patience", "int", None, 1, None, nullable=True, help=_PATIENCE),
    )),
    Algorithm("blazingtext", "fastText-style text classifier: mean of word and word n-gram embeddings, then a linear layer", True, True, (
        Param("mode", "str", "supervised", choices=("supervised",), help="text classification (word2vec modes are not built in)"),
        Param("epochs", "int", 5, 1, 1000, help="passes over the training data"),
        Param("learning_rate", "float", 0.05, 0, 10, low_open=True, help="Adam step size"),
        Param("vector_dim", "int", 100, 4, 1000, help="embedding dimension"),
        Param("word_ngrams", "int", 2, 1, 5, help="longest word n-gram hashed into buckets"),
        Param("min_count", "int", 5, 1, None, help="words seen fewer times are dropped (n-grams are hashed)"),
        Param("buckets", "int", 100_000, 1, 10_000_000, help="hash buckets for n-grams (SageMaker: 2000000; smaller here)"),
        Param("mini_batch_size", "int", 32, 1, None, help="documents per step"),
        Param("early_stopping", "bool", False, help="stop when validation accuracy stops improving"),
        Param("patience", "int", 4, 1, None, help="epochs without improvement before stopping"),
        Param("min_epochs", "int", 5, 1, None, help="epochs before early stopping may stop"),
    ), inputs="text"),
    Algorithm("deepar", "probabilistic forecasting: an autoregressive RNN over related series, quantiles by sampling", False, True, (
        Param("time_freq", "str", "D", help="series frequency: M, W, D, H, min or a multiple such as 5min"),
        Param("prediction_length", "int", 7, 1, 400, help="steps forecast"),
        Param("context_length", "int", 14, 1, 1000, help="steps the RNN reads before forecasting"),
        Param("epochs", "int", 20, 1, 10_000, help="passes over the training windows"),
        Param("likelihood", "str", "gaussian", choices=("gaussian",), help="output distribution (SageMaker default student-T is not built in)"),
        Param("num_cells", "int", 40, 1, 1000, help="RNN cells per layer"),
        Param("num_layers", "int", 2, 1, 8, help="RNN layers"),
        Param("dropout_rate", "float", 0.1, 0, 1, high_open=True, help="dropout between RNN layers"),
        Param("embedding_dimension", "int", 10, 1, 100, help="embedding size of each cat value"),
        Param("learning_rate", "float", 0.001, 0, 1, low_open=True, help="Adam step size"),
        Param("mini_batch_size", "int", 128, 1, None, help="windows per step"),
        Param("num_eval_samples", "int", 100, 1, 10_000, help="sample paths per series for test metrics"),
        Param("test_quantiles", "str", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", help="quantiles of the test metrics, comma-separated"),
    ), inputs="jsonlines", channels=("train", "test")),
    Algorithm("image-classification", "small convolutional network trained from scratch on pixel columns", True, True, (
        Param("image_shape", "str", "1,8,8", help="channels,height,width of the pixel columns (row-major)"),
        Param("num_filters", "int", 16, 1, 512, help="filters of the first convolution (doubled in the second)"),
        Param("epochs", "int", 10, 1, 10_000, help="passes over the training data"),
        Param("learning_rate", "float", 0.01, 0, 10, low_open=True, help="Adam step size"),
        Param("mini_batch_size", "int", 32, 1, None, help="images per step"),
        Param("early_stopping_patience", "int", None, 1, None, nullable=True, help=_PATIENCE),
    )),
)
ALGORITHMS.update({a.name: a for a in NEURAL})


def get_algorithm(name: str) -> Algorithm:
    """The built-in algorithm called ``name``.

    Raises:
        ValidationError: naming the unknown algorithm and the known ones.
    """
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        raise ValidationError(f"unknown algorithm {name!r} (built-in: {', '.join(ALGORITHMS)})") from None


__all__ = ["ALGORITHMS", "NEURAL", "Algorithm", "get_algorithm"]
