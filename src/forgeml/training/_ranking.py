"""Ranking metrics of a recommender over grouped candidates: NDCG@k and hit rate@k.

Each group (a user) holds its candidate rows (items) with a relevance label (1 for an item the
user took, 0 for a sampled negative, or a graded rating); the model's scores rank them.
"""

from __future__ import annotations

import numpy as np


def _dcg(relevance: np.ndarray, k: int) -> float:
    rel = relevance[:k]
    return float(np.sum(rel / np.log2(np.arange(2, len(rel) + 2))))


def ranking_metrics(groups: np.ndarray, relevance: np.ndarray, scores: np.ndarray, k: int) -> dict[str, float]:
    """Mean NDCG@k and hit rate@k over the groups with at least one relevant row.

    Ties in ``scores`` rank the earlier row first (a stable sort), as sorting the rows would.

    Args:
        groups: the group (user) of every row.
        relevance: the row's relevance (> 0 counts as a hit).
        scores: the model's score of the row (higher ranks first).
        k: how many top rows count.

    Returns:
        ``{"ndcg_at_k", "hit_rate_at_k", "groups"}`` (``groups``: how many groups were ranked).
    """
    groups, relevance, scores = np.asarray(groups), np.asarray(relevance, dtype=float), np.asarray(scores, dtype=float)
    ndcg, hits = [], []
    for g in np.unique(groups):
        mask = groups == g
        rel = relevance[mask]
        if not (rel > 0).any():
            continue
        order = np.argsort(-scores[mask], kind="stable")
        ideal = _dcg(np.sort(rel)[::-1], k)
        ndcg.append(_dcg(rel[order], k) / ideal)
        hits.append(float((rel[order][:k] > 0).any()))
    if not ndcg:
        return {"ndcg_at_k": float("nan"), "hit_rate_at_k": float("nan"), "groups": 0.0}
    return {"ndcg_at_k": float(np.mean(ndcg)), "hit_rate_at_k": float(np.mean(hits)), "groups": float(len(ndcg))}


__all__ = ["ranking_metrics"]
