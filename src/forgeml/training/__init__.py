"""Training: training jobs, built-in algorithms, script mode, checkpoints, debugger rules."""

from forgeml.training._algorithms import ALGORITHMS, Algorithm, get_algorithm
from forgeml.training._hyperparams import Param, validate_hyperparameters
from forgeml.training._rules import RULES, RuleEngine
from forgeml.training._service import TrainingRequest, TrainingService

__all__ = [
    "ALGORITHMS",
    "RULES",
    "Algorithm",
    "Param",
    "RuleEngine",
    "TrainingRequest",
    "TrainingService",
    "get_algorithm",
    "validate_hyperparameters",
]
