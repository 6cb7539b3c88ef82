"""Factorization machines (SageMaker's ``factorization-machines``) over categorical id columns.

Every feature column is one categorical field (a user id, an item id, a context value): integer
ids ``0..n-1``, where ``n`` is one more than the largest id seen in training. A one-hot encoding
of the fields is the sparse input a factorization machine is defined on; here each field's id
picks its rows of the linear and factor tables directly (the same model, without materializing
the sparse matrix). Ids outside the training range (a new user) map to one learned "unknown" slot
per field. The prediction is ``w0 + sum_i w_i + sum_{i<j} <v_i, v_j>``: one logit (binary, implicit
feedback) or one value (regression, ratings).

On a validation channel, besides the usual classification or regression metrics, the rows are
ranked per user (the first feature column, or ``ranking_group``): ``validation:ndcg_at_k`` and
``validation:hit_rate_at_k``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from forgeml.errors import ValidationError
from forgeml.training._neural import fit, setup
from forgeml.training._ranking import ranking_metrics

if TYPE_CHECKING:
    from forgeml.training._builtin import Checkpointer, Prepared
    from forgeml.training._runtime import TrainingRun


def _module(cardinalities: list[int], factors: int) -> Any:
    import torch

    class FactorizationMachine(torch.nn.Module):
        """Float id columns in, one output per row."""

        def __init__(self) -> None:
            super().__init__()
            sizes = [c + 1 for c in cardinalities]  # + the field's unknown slot
            self.register_buffer("cards", torch.tensor(cardinalities, dtype=torch.int64))
            self.register_buffer("offsets", torch.tensor(np.concatenate([[0], np.cumsum(sizes)[:-1]]), dtype=torch.int64))
            total = int(sum(sizes))
            self.bias = torch.nn.Parameter(torch.zeros(1))
            self.linear = torch.nn.Embedding(total, 1)
            self.factors = torch.nn.Embedding(total, factors)
            torch.nn.init.zeros_(self.linear.weight)
            torch.nn.init.normal_(self.factors.weight, std=0.01)

        def forward(self, x: Any) -> Any:
            ids = x.to(torch.int64)
            ids = torch.where((ids >= 0) & (ids < self.cards), ids, self.cards) + self.offsets
            v = self.factors(ids)
            pairs = 0.5 * (v.sum(dim=1) ** 2 - (v**2).sum(dim=1)).sum(dim=1, keepdim=True)
            return self.bias + self.linear(ids).sum(dim=1) + pairs

    return FactorizationMachine()


def train_factorization_machines(tr: TrainingRun, d: Prepared, ck: Checkpointer) -> tuple[Any, dict[str, Any]]:
    """A factorization machine trained with Adam; per-epoch metrics and ranking metrics."""
    hp = d.hp
    if d.task == "multiclass":
        raise ValidationError(f"factorization-machines predicts a binary label or a value; the target has {len(d.classes or [])} classes")
    values = np.asarray(d.X, dtype=float)
    if np.isnan(values).any() or (values < 0).any() or (np.mod(values, 1) != 0).any():
        bad = next(c for c in d.X.columns if np.isnan(d.X[c].to_numpy(float)).any() or (d.X[c] < 0).any() or (np.mod(d.X[c], 1) != 0).any())
        raise ValidationError(f"factorization-machines reads non-negative integer ids; column {bad!r} holds other values")
    cards = [int(values[:, j].max()) + 1 for j in range(values.shape[1])]
    tr.rules.facts["cardinalities"] = dict(zip(map(str, d.X.columns), cards, strict=True))
    group = hp["ranking_group"] or str(d.X.columns[0])
    if d.Xv is not None and group not in d.Xv.columns:
        raise ValidationError(f"ranking_group {group!r} is not a feature column ({', '.join(map(str, d.X.columns))})")

    def groups(m: Any) -> list[dict[str, Any]]:
        return [
            {"params": [m.bias], "lr": hp["learning_rate"], "weight_decay": hp["bias_wd"]},
            {"params": m.linear.parameters(), "lr": hp["learning_rate"], "weight_decay": hp["linear_wd"]},
            {"params": m.factors.parameters(), "lr": hp["learning_rate"], "weight_decay": hp["factors_wd"]},
        ]

    def ranking(live: Any) -> dict[str, float]:
        scores = live._out(d.Xv)[:, 0]
        got = ranking_metrics(d.Xv[group].to_numpy(), np.asarray(d.yv, dtype=float), scores, hp["ranking_k"])
        return {"validation:ndcg_at_k": got["ndcg_at_k"], "validation:hit_rate_at_k": got["hit_rate_at_k"]}

    setup(d.seed, d.n_jobs)  # the initial factors follow the job's seed
    model, extra = fit(tr, d, ck, _module(cards, hp["num_factors"]), groups, extra_metrics=ranking)
    extra["cardinalities"] = cards
    return model, extra


__all__ = ["train_factorization_machines"]
