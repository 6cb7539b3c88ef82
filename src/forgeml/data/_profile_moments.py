"""The profile's second pass: histograms, outlier counts and correlations, in one streamed read.

The numeric columns arrive as float64 numpy batches of ``batch_rows`` rows, read ahead by a thread
(:mod:`._profile_read`); numpy reduces each batch: ``bincount`` for histograms, comparisons for
outlier counts, and BLAS products of the centred batch for the pairwise sums behind Pearson
correlation with pairwise deletion, as pandas does. Only rows with a missing value change the
per-pair sums, and those are gathered column by column, so a batch costs one ``XᵀX`` and a few
small sums.

BLAS is held to one thread for the pass: these products are tall and thin (batch rows by at
most 40 columns), and OpenBLAS's two threads made them about 20 times slower than one on the 2-core
machines we measure on. Memory is a few batches, however large the file.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np

from forgeml.data._duck import value_expr
from forgeml.data._profile_read import numeric_batches
from forgeml.data._profile_tails import Tails

FINE = 3277  # sub-bins per histogram bin for the quantile estimate above exact_max_rows


def stream_moments(
    con: Any,
    data: Any,
    numeric: list[str],
    corr_cols: list[str],
    stats: dict[str, dict[str, Any]],
    types: dict[str, str],
    *,
    bins: int,
    zscore: float,
    iqr_factor: float,
    batch_rows: int = 1 << 18,
    fine: bool = False,
) -> dict[str, Any]:
    """Per numeric column ``histogram`` and ``outliers``; ``__corr__`` the correlation matrix.

    With ``fine``, quantiles are not in ``stats`` yet: each histogram bin is split into ``FINE``
    sub-bins, quantiles are interpolated within them (written into ``stats``), and the IQR
    outliers are counted exactly against the resulting bounds (:mod:`._profile_tails`).
    """
    from threadpoolctl import threadpool_limits

    if not numeric:
        return {"__corr__": []}
    acc = _Sums(numeric, corr_cols, stats, bins=bins, zscore=zscore, iqr_factor=iqr_factor, fine=fine)
    with threadpool_limits(limits=1, user_api="blas"), contextlib.closing(
        numeric_batches(con, data, numeric, types, batch_rows)
    ) as batches:
        for batch in batches:
            acc.add(batch)
    if fine:
        acc.finish_fine(con, {c: value_expr(c, types[c]) for c in numeric})
    return acc.result()


def first_moments(con: Any, data: Any, numeric: list[str], types: dict[str, str], *, batch_rows: int = 1 << 18) -> dict[str, dict[str, Any]]:
    """Per numeric column ``count``, ``min``, ``max``, ``mean``, ``std`` (sample, like pandas) and ``zeros``, in one streamed read.

    Each batch's mean and sum of squared deviations are merged with Chan et al.'s pairwise update,
    which is as accurate as a two-pass computation. (DuckDB's ``stddev_samp`` took ~3 s of CPU
    for 17 columns of 10M rows here; this whole pass, reading included, about as much.)
    """
    from threadpoolctl import threadpool_limits

    k = len(numeric)
    count, mean, m2, zeros = np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k, dtype="int64")
    low, high = np.full(k, np.inf), np.full(k, -np.inf)
    with threadpool_limits(limits=1, user_api="blas"), contextlib.closing(
        numeric_batches(con, data, numeric, types, batch_rows)
    ) as batches:
        for batch in batches:
            for j, v in enumerate(batch):
                absent = np.isnan(v)
                x = v[~absent] if absent.any() else v
                if not x.size:
                    continue
                n = x.size
                low[j], high[j] = min(low[j], x.min()), max(high[j], x.max())
                zeros[j] += int(np.count_nonzero(x == 0))
                centre = x.sum() / n
                dev = x - centre
                delta, total = centre - mean[j], count[j] + n
                mean[j] += delta * n / total
                m2[j] += float(dev @ dev) + delta * delta * count[j] * n / total
                count[j] = total
    return {
        name: {
            "count": int(count[j]),
            "min": _f(low[j]) if count[j] else None,
            "max": _f(high[j]) if count[j] else None,
            "mean": _f(mean[j]) if count[j] else None,
            "std": _f(math.sqrt(m2[j] / (count[j] - 1))) if count[j] > 1 and m2[j] >= 0 else None,
            "zeros": int(zeros[j]),
        }
        for j, name in enumerate(numeric)
    }


class _Sums:
    """Running histograms, outlier counts and correlation sums over the batches."""

    def __init__(
        self, numeric: list[str], corr_cols: list[str], stats: dict[str, dict[str, Any]], *,
        bins: int, zscore: float, iqr_factor: float, fine: bool,
    ) -> None:  # fmt: skip
        self.numeric, self.stats, self.bins, self.fine = numeric, stats, bins, fine
        self.zscore, self.iqr_factor = zscore, iqr_factor
        k = len(numeric)
        self.lows = np.array([stats[c]["min"] for c in numeric], dtype="float64")
        self.highs = np.array([stats[c]["max"] for c in numeric], dtype="float64")
        split = FINE if fine else 1
        self.nbins = np.where(self.highs > self.lows, bins * split, 1)
        self.widths = np.where(self.highs > self.lows, (self.highs - self.lows) / (bins * split), 1.0)
        self.means = np.array([stats[c]["mean"] for c in numeric], dtype="float64")
        self.stds = np.array([stats[c]["std"] or 0.0 for c in numeric], dtype="float64")
        self.z_lo, self.z_hi = self.means - zscore * self.stds, self.means + zscore * self.stds
        if fine:
            self.iqr_lo, self.iqr_hi = np.full(k, np.nan), np.full(k, np.nan)
            self.tails: Tails | None = Tails(k, iqr_factor, np.where(self.highs > self.lows, self.widths, 0.0))
        else:
            q1 = np.array([stats[c]["quantiles"]["p25"] for c in numeric], dtype="float64")
            q3 = np.array([stats[c]["quantiles"]["p75"] for c in numeric], dtype="float64")
            self.iqr_lo, self.iqr_hi = q1 - iqr_factor * (q3 - q1), q3 + iqr_factor * (q3 - q1)
            self.tails = None
        self.hist = [np.zeros(int(b), dtype="int64") for b in self.nbins]
        self.iqr_out = np.zeros(k, dtype="int64")
        self.z_out = np.zeros(k, dtype="int64")
        self.cpos = {numeric.index(c): p for p, c in enumerate(corr_cols)}
        m = len(corr_cols)
        self.n_ab, self.s_a, self.s_ab, self.s_aa = (np.zeros((m, m)) for _ in range(4))

    def add(self, batch: list[Any]) -> None:
        """Fold in one batch: a float64 array per numeric column, NaN where missing."""
        rows, m = len(batch[0]), len(self.cpos)
        centred = np.empty((rows, m), order="F")  # column p: value - mean, 0 where missing
        missing: dict[int, Any] = {}
        for j, v in enumerate(batch):
            absent = np.isnan(v)
            some = bool(absent.any())
            x = v[~absent] if some else v
            if x.size:
                self._column(j, x)
            p = self.cpos.get(j)
            if p is not None:
                np.subtract(v, self.means[j], out=centred[:, p])
                if some:
                    np.copyto(centred[:, p], 0.0, where=absent)
                    missing[p] = np.flatnonzero(absent)
        if m:
            self._products(centred, missing)

    def _column(self, j: int, x: Any) -> None:
        scaled = np.subtract(x, self.lows[j])
        np.divide(scaled, self.widths[j], out=scaled)
        bucket = scaled.astype("int64")  # x >= the column minimum, so truncation is floor
        np.minimum(bucket, self.nbins[j] - 1, out=bucket)
        self.hist[j] += np.bincount(bucket, minlength=int(self.nbins[j]))
        if self.tails is not None:
            self.tails.add(j, x)
        else:
            self.iqr_out[j] += int(np.count_nonzero(x < self.iqr_lo[j]) + np.count_nonzero(x > self.iqr_hi[j]))
        if self.stds[j] > 0:
            self.z_out[j] += int(np.count_nonzero(x < self.z_lo[j]) + np.count_nonzero(x > self.z_hi[j]))

    def _products(self, centred: Any, missing: dict[int, Any]) -> None:
        """Add one batch's pairwise-complete sums: n, Σa, Σa² over the rows where b is present, and Σab.

        With missing values zeroed, ``XᵀX`` is already Σab for every pair. Rows with every column
        present add to the other sums alike for all pairs, so only the rows with a missing value
        (gathered once) need products with their presence matrix.
        """
        rows, m = centred.shape
        gram = centred.T @ centred
        sums, squares = centred.sum(axis=0), np.diagonal(gram).copy()
        if missing:
            some = np.zeros(rows, dtype=bool)
            for idx in missing.values():
                some[idx] = True
            gaps = np.flatnonzero(some)
            part = centred[gaps]
            present = np.ones((gaps.size, m))
            for p, idx in missing.items():
                present[np.searchsorted(gaps, idx), p] = 0.0
            squared = part * part
            sided = np.hstack([part, squared]).T @ present  # Σa and Σa² over these rows where b is present
            self.s_a += (sums - part.sum(axis=0))[:, None] + sided[:m]
            self.s_aa += (squares - squared.sum(axis=0))[:, None] + sided[m:]
            self.n_ab += (rows - gaps.size) + present.T @ present
        else:
            self.s_a += sums[:, None]
            self.s_aa += squares[:, None]
            self.n_ab += rows
        self.s_ab += gram

    def finish_fine(self, con: Any, exprs: dict[str, str]) -> None:
        """Quantiles from the fine histograms; the exact IQR counts; histograms back to ``bins`` bins."""
        assert self.tails is not None
        rescan: list[int] = []
        for j, name in enumerate(self.numeric):
            quantiles = _hist_quantiles(self.hist[j], self.lows[j], self.widths[j])
            self.stats[name]["quantiles"] = quantiles
            q1, q3 = quantiles["p25"], quantiles["p75"]
            assert q1 is not None and q3 is not None  # every column streamed here has values
            self.iqr_lo[j], self.iqr_hi[j] = q1 - self.iqr_factor * (q3 - q1), q3 + self.iqr_factor * (q3 - q1)
            found = self.tails.count(j, self.iqr_lo[j], self.iqr_hi[j], self.lows[j], self.highs[j])
            if found is None:
                rescan.append(j)
            else:
                self.iqr_out[j] = found
            if self.nbins[j] > 1:
                self.hist[j] = self.hist[j].reshape(self.bins, FINE).sum(axis=1)
        if rescan:
            counts = ", ".join(
                f"count_if({exprs[self.numeric[j]]} < {float(self.iqr_lo[j])!r} OR {exprs[self.numeric[j]]} > {float(self.iqr_hi[j])!r})"
                for j in rescan
            )
            self.iqr_out[rescan] = con.execute(f"SELECT {counts} FROM src").fetchall()[0]
        self.widths = np.where(self.highs > self.lows, (self.highs - self.lows) / self.bins, 1.0)
        self.nbins = np.where(self.highs > self.lows, self.bins, 1)

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        lows, widths, nbins, zscore = self.lows, self.widths, self.nbins, self.zscore
        for j, name in enumerate(self.numeric):
            edges = [float(lows[j] + i * widths[j]) for i in range(int(nbins[j]) + 1)] if nbins[j] > 1 else [float(lows[j])] * 2
            out[name] = {
                "histogram": {"edges": edges, "counts": self.hist[j].tolist()},
                "outliers": {
                    "iqr": {"count": int(self.iqr_out[j]), "lower": _f(self.iqr_lo[j]), "upper": _f(self.iqr_hi[j]), "factor": self.iqr_factor},
                    "zscore": {"count": int(self.z_out[j]), "lower": _f(self.means[j] - zscore * self.stds[j]), "upper": _f(self.means[j] + zscore * self.stds[j]), "threshold": zscore},
                },
            }  # fmt: skip
        out["__corr__"] = _correlations(self.n_ab, self.s_a, self.s_ab, self.s_aa)
        return out


def _hist_quantiles(counts: Any, low: float, width: float) -> dict[str, float | None]:
    """Quantiles (``quantile_cont`` positions) interpolated inside the fine histogram's bins."""
    from forgeml.data._profile import QUANTILES

    n = int(counts.sum())
    if n == 0:
        return {f"p{round(q * 100):02d}": None for q in QUANTILES}
    cum = np.cumsum(counts)
    out: dict[str, float | None] = {}
    for q in QUANTILES:
        rank = q * (n - 1)  # 0-based position among the sorted values
        b = int(np.searchsorted(cum, rank, side="right"))
        before = cum[b - 1] if b else 0
        frac = (rank - before + 0.5) / counts[b] if counts[b] else 0.5
        out[f"p{round(q * 100):02d}"] = float(low + width * (b + min(max(frac, 0.0), 1.0)))
    return out


def _correlations(n: Any, s_a: Any, s_ab: Any, s_aa: Any) -> list[list[float | None]]:
    """Pearson r per pair over the rows where both are present (pairwise deletion)."""
    m = n.shape[0]
    s_b, s_bb = s_a.T, s_aa.T
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = n * s_ab - s_a * s_b
        var = (n * s_aa - s_a * s_a) * (n * s_bb - s_b * s_b)
        r = cov / np.sqrt(var)
    out: list[list[float | None]] = []
    for i in range(m):
        row: list[float | None] = []
        for j in range(m):
            value = 1.0 if i == j and n[i, i] > 1 and var[i, j] > 0 else r[i, j]
            row.append(None if n[i, j] < 2 or not math.isfinite(value) else float(max(-1.0, min(1.0, value))))
        out.append(row)
    return out


def _f(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


__all__ = ["FINE", "first_moments", "stream_moments"]
