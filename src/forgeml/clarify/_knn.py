"""Exact k-nearest-neighbour majority votes for the flip test (FT), on scipy's ``cKDTree``.

FT asks, for every row of facet d, what a k-nearest-neighbour classifier fitted on facet a
(features -> predicted label; uniform weights; Euclidean distance) would predict. smclarify runs
scikit-learn's ``KNeighborsClassifier`` for that; :func:`majority_vote` returns the same votes:
a row's vote is positive when more than k/2 of its k nearest facet-a rows are positive.

Why not scikit-learn: its ``algorithm="auto"`` picks a KD tree for up to 15 features (brute force
above), queries it on one thread, in the rows' own order, so consecutive queries wander over the
whole tree and the data. Here both point sets are first put in the leaf order of a KD tree, so
neighbouring queries read neighbouring memory, and ``cKDTree.query`` runs on every core, chunk by
chunk (memory stays bounded by the chunk, not the number of rows).

Ties. The neighbours are the k smallest by (distance, row position in facet a): when more rows lie
at exactly the k-th distance than places are left, the earliest rows win. scikit-learn leaves that
choice to the order in which its search meets the points (its documentation warns that results then
depend on the order of the training data), so on data with exactly equal distances, such as
duplicated rows or integer grids, its vote can differ from this one. Without such ties the k nearest
rows are unique and both agree. Distances are compared as ``cKDTree`` computes them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

CHUNK_ROWS = 1 << 16
_NO_ROW = np.iinfo(np.int64).max >> 1  # a missing row: its key, _NO_ROW << 1, sorts after every real one


def majority_vote(xa: np.ndarray, ya: np.ndarray, xd: np.ndarray, k: int) -> np.ndarray:
    """For each row of ``xd``: are more than ``k / 2`` of its ``k`` nearest rows of ``xa`` positive?

    Args:
        xa: facet a's features, ``(na, n_features)`` float64, finite, ``na >= k``.
        ya: facet a's predicted labels, ``(na,)`` bool.
        xd: the query rows (facet d), ``(nd, n_features)`` float64, finite.
        k: the number of neighbours.

    Returns:
        ``(nd,)`` bool: the vote of each row of ``xd``.
    """
    from scipy.spatial import cKDTree

    if _many_duplicates(xa):  # identical rows cannot be split: their leaf would be scanned whole
        order_d = _leaf_order(xd)
        votes = np.empty(len(xd), dtype=bool)
        votes[order_d] = _TiedVotes(xa, ya, k).votes(np.take(xd, order_d, axis=0))
        return votes
    def build() -> tuple[np.ndarray, cKDTree]:
        order = _leaf_order(xa)
        return order, cKDTree(np.take(xa, order, axis=0), leafsize=32, balanced_tree=False, compact_nodes=False, copy_data=False)

    with ThreadPoolExecutor(1) as pool:  # tree builds release the GIL: order the queries meanwhile
        facet_a = pool.submit(build)
        order_d = _leaf_order(xd)
        order_a, tree = facet_a.result()
    yes = ya[order_a]
    n_query = min(k + 1, len(xa))  # one more than k, to see whether the k-th place is tied
    votes = np.empty(len(xd), dtype=bool)
    tied: list[np.ndarray] = []
    for start in range(0, len(xd), CHUNK_ROWS):
        rows = order_d[start : start + CHUNK_ROWS]
        dist, idx = tree.query(np.take(xd, rows, axis=0), k=n_query, workers=-1)
        dist, idx = dist.reshape(len(rows), n_query), idx.reshape(len(rows), n_query)
        votes[rows] = 2 * np.count_nonzero(yes[idx[:, :k]], axis=1) > k
        if n_query > k:
            tied.append(rows[dist[:, k] == dist[:, k - 1]])
    ambiguous = np.concatenate(tied) if tied else np.empty(0, dtype=np.int64)
    if len(ambiguous):
        votes[ambiguous] = _TiedVotes(xa, ya, k).votes(xd[ambiguous])
    return votes


def _many_duplicates(xa: np.ndarray, sample: int = 2048) -> bool:
    """Whether some point seems to repeat in more than ~64 rows (judged on evenly spaced rows)."""
    rows = np.take(xa, np.linspace(0, len(xa) - 1, min(sample, len(xa))).astype(np.int64), axis=0)
    most = int(np.unique(rows, axis=0, return_counts=True)[1].max())
    return most >= 2 and most * len(xa) > 64 * len(rows)


def _leaf_order(x: np.ndarray) -> np.ndarray:
    """A permutation of the rows that keeps spatially close rows close in memory (KD-tree leaves)."""
    from scipy.spatial import cKDTree

    return np.asarray(cKDTree(x, balanced_tree=False, compact_nodes=False, copy_data=False).indices)


class _TiedVotes:
    """Votes by the (distance, row position) rule for queries whose k-th place is tied.

    Duplicated rows of ``xa`` are merged first (each distinct point keeps its row count and its
    first ``k`` row positions), so a query next to many identical rows costs one tree lookup, not
    one per row. A query asks for more distinct neighbours (doubling) until every point at the k-th
    row's distance has been seen.
    """

    def __init__(self, xa: np.ndarray, ya: np.ndarray, k: int) -> None:
        import pandas as pd
        from scipy.spatial import cKDTree

        codes = pd.DataFrame(xa).groupby(list(range(xa.shape[1])), sort=False).ngroup().to_numpy()
        order = np.argsort(codes, kind="stable")  # rows grouped by point, in row order within a point
        counts = np.bincount(codes)
        starts = np.cumsum(counts) - counts
        points = np.take(xa, order[starts], axis=0)
        spatial = _leaf_order(points)
        renumber = np.empty_like(spatial)
        renumber[spatial] = np.arange(len(spatial))
        codes = renumber[codes]
        rank = np.arange(len(order)) - np.repeat(starts, counts)
        first = order[rank < k]
        self.counts = counts[spatial]
        self.first_pos = np.full((len(counts), k), _NO_ROW, dtype=np.int64)
        self.first_yes = np.zeros((len(counts), k), dtype=bool)
        self.first_pos[codes[first], rank[rank < k]] = first
        self.first_yes[codes[first], rank[rank < k]] = ya[first]
        self.n_yes = np.bincount(codes, weights=ya, minlength=len(counts)).astype(np.int64)
        self.tree = cKDTree(np.take(points, spatial, axis=0), balanced_tree=False, compact_nodes=False)
        self.k = k

    def votes(self, queries: np.ndarray) -> np.ndarray:
        n_points = len(self.counts)
        votes = np.empty(len(queries), dtype=bool)
        todo = np.arange(len(queries))
        n_query = min(2 * (self.k + 1), n_points)
        while len(todo):
            dist, idx = self.tree.query(queries[todo], k=n_query, workers=-1)
            dist, idx = dist.reshape(len(todo), n_query), idx.reshape(len(todo), n_query)
            done, vote = self._decide(dist, idx, complete=n_query == n_points)
            votes[todo[done]] = vote[done]
            todo = todo[~done]
            n_query = min(2 * n_query, n_points)
        return votes

    def _decide(self, dist: np.ndarray, idx: np.ndarray, complete: bool) -> tuple[np.ndarray, np.ndarray]:
        """Which queries are settled by these distinct neighbours, and their votes."""
        k = self.k
        rows_seen = np.cumsum(self.counts[idx], axis=1)
        boundary = dist[np.arange(len(dist)), np.argmax(rows_seen >= k, axis=1)][:, None]
        done = np.full(len(dist), complete) | (dist[:, -1] > boundary[:, 0])
        closer = dist < boundary
        places = k - (self.counts[idx] * closer).sum(axis=1)
        yes_closer = (self.n_yes[idx] * closer).sum(axis=1)
        key = (self.first_pos[idx] << 1) | self.first_yes[idx]  # row position, then its vote, in one key
        key = np.where((dist == boundary)[..., None], key, _NO_ROW << 1).reshape(len(dist), -1)
        earliest = np.sort(key, axis=1)[:, :k]
        yes_tied = np.count_nonzero((earliest & 1).astype(bool) & (np.arange(k) < places[:, None]), axis=1)
        return done, 2 * (yes_closer + yes_tied) > k


__all__ = ["CHUNK_ROWS", "majority_vote"]
