"""The profile's streamed numeric passes, checked against numpy/pandas over many small batches."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forgeml.data._duck import open_source, schema
from forgeml.data._profile import profile
from forgeml.data._profile_moments import first_moments, stream_moments
from forgeml.data._profile_read import _prefetched, numeric_batches
from forgeml.data._profile_tails import Tails


def _frame(n: int = 4000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(10, 3, n)
    b = 0.5 * a + rng.normal(0, 1, n)
    c = rng.lognormal(1, 0.7, n)
    a[rng.random(n) < 0.05] = np.nan
    b[rng.random(n) < 0.08] = np.nan
    c[:40] *= 30  # outliers
    return pd.DataFrame({
        "a": a, "b": b, "c": c,
        "k": rng.integers(0, 5, n),
        "flag": (rng.random(n) < 0.1).astype(np.int64),
        "sorted": np.arange(n, dtype=np.float64) ** 1.5,
        "zero": np.where(rng.random(n) < 0.3, 0.0, rng.normal(0, 1, n)),
    })  # fmt: skip


@pytest.fixture(params=["frame", "parquet"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[object, pd.DataFrame]:
    frame = _frame()
    if request.param == "frame":
        return frame, frame
    path = tmp_path / "d.parquet"
    frame.to_parquet(path, row_group_size=1500)
    return str(path), frame


def test_first_moments_merge_batches_like_pandas(source: tuple[object, pd.DataFrame]) -> None:
    data, frame = source
    with open_source(data) as con:
        got = first_moments(con, data, list(frame.columns), dict(schema(con)), batch_rows=333)
    for name in frame.columns:
        s = frame[name]
        assert got[name]["count"] == s.count()
        assert got[name]["min"] == s.min() and got[name]["max"] == s.max()
        assert got[name]["mean"] == pytest.approx(s.mean(), rel=1e-12)
        assert got[name]["std"] == pytest.approx(s.std(ddof=1), rel=1e-12)
        assert got[name]["zeros"] == (s == 0).sum()


def test_first_moments_empty_and_single_value_columns() -> None:
    frame = pd.DataFrame({"none": [np.nan] * 5, "one": [np.nan, 4.0, np.nan, np.nan, np.nan]})
    with open_source(frame) as con:
        got = first_moments(con, frame, ["none", "one"], dict(schema(con)), batch_rows=2)
    assert got["none"] == {"count": 0, "min": None, "max": None, "mean": None, "std": None, "zeros": 0}
    assert got["one"] == {"count": 1, "min": 4.0, "max": 4.0, "mean": 4.0, "std": None, "zeros": 0}


@pytest.mark.parametrize("fine", [False, True])
def test_streamed_pass_matches_numpy_and_pandas(source: tuple[object, pd.DataFrame], fine: bool) -> None:
    data, frame = source
    names = list(frame.columns)
    with open_source(data) as con:
        types = dict(schema(con))
        stats = first_moments(con, data, names, types)
        if not fine:
            for n in names:
                q1, q3 = np.nanquantile(frame[n], [0.25, 0.75])
                stats[n]["quantiles"] = {"p25": q1, "p75": q3}
        out = stream_moments(con, data, names, names, stats, types, bins=12, zscore=2.5, iqr_factor=1.5, batch_rows=257, fine=fine)
    for n in names:
        x = frame[n].dropna().to_numpy()
        counts, edges = np.histogram(x, bins=12, range=(x.min(), x.max()))
        assert out[n]["histogram"]["counts"] == counts.tolist()
        np.testing.assert_allclose(out[n]["histogram"]["edges"], edges)
        iqr = out[n]["outliers"]["iqr"]
        assert iqr["lower"] <= iqr["upper"]
        assert iqr["count"] == ((x < iqr["lower"]) | (x > iqr["upper"])).sum()
        if not fine:  # bounds from the exact quartiles
            q1, q3 = np.quantile(x, [0.25, 0.75])
            assert iqr["lower"] == pytest.approx(q1 - 1.5 * (q3 - q1)) and iqr["upper"] == pytest.approx(q3 + 1.5 * (q3 - q1))
        else:  # quartiles from the fine histogram: inside the fine bin of the value at that rank
            width, ordered = (x.max() - x.min()) / (12 * 3277), np.sort(x)
            for key, q in (("p25", 0.25), ("p75", 0.75)):
                at = ordered[int(q * (len(x) - 1))]
                assert at - width - 1e-9 <= stats[n]["quantiles"][key] <= at + width + 1e-9
        z = out[n]["outliers"]["zscore"]
        assert z["count"] == (np.abs(x - x.mean()) > 2.5 * x.std(ddof=1)).sum()
    expected = frame.corr()  # pairwise deletion
    got = np.array(out["__corr__"], dtype=float)
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-9, atol=1e-12)


def test_iqr_bounds_are_distinct_above_exact_max_rows(tmp_path: Path) -> None:
    # Regression: above exact_max_rows the lower and upper IQR bounds shared one array, so both
    # reported the upper bound and nearly every value counted as an outlier.
    frame = _frame(3000)
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    report = profile(str(path), exact_max_rows=10)
    for col in report["columns"]:
        x = frame[col["name"]].dropna().to_numpy()
        iqr = col["outliers"]["iqr"]
        assert iqr["lower"] < iqr["upper"] or x.min() == x.max()
        assert iqr["count"] == ((x < iqr["lower"]) | (x > iqr["upper"])).sum()
    c = next(col for col in report["columns"] if col["name"] == "c")
    assert 40 <= c["outliers"]["iqr"]["count"] < 0.2 * len(frame)


def test_frame_and_parquet_profiles_agree(tmp_path: Path) -> None:
    frame = _frame(2000)
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    for exact_max_rows in (10, 10_000):
        a = profile(frame, exact_max_rows=exact_max_rows)
        b = profile(str(path), exact_max_rows=exact_max_rows)
        for x, y in zip(a["columns"], b["columns"], strict=True):
            for key in ("count", "distinct", "min", "max", "zeros", "histogram", "outliers", "quantiles"):
                assert x[key] == y[key], (x["name"], key)
            assert x["mean"] == pytest.approx(y["mean"], rel=1e-12) and x["std"] == pytest.approx(y["std"], rel=1e-12)
        np.testing.assert_allclose(np.array(a["correlations"]["matrix"], dtype=float), np.array(b["correlations"]["matrix"], dtype=float), rtol=1e-12)


def _stream_tails(x: np.ndarray, batch: int, cap: int | None = None, factor: float = 1.5) -> tuple[Tails, float, float]:
    pad = (x.max() - x.min()) / 65540
    tails = Tails(1, factor, [pad], cap=cap)
    for start in range(0, len(x), batch):
        tails.add(0, x[start : start + batch])
    q1, q3 = np.quantile(x, [0.25, 0.75])
    return tails, q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)


def test_tails_count_exactly_from_one_pass() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, 20000), rng.normal(0, 40, 200)])
    rng.shuffle(x)
    tails, lower, upper = _stream_tails(x, 1000)
    assert tails.count(0, lower, upper, x.min(), x.max()) == ((x < lower) | (x > upper)).sum()


def test_tails_of_a_discrete_column_keep_few_pairs() -> None:
    rng = np.random.default_rng(2)
    x = (rng.random(50000) < 0.1).astype(float)
    tails, lower, upper = _stream_tails(x, 4096)
    assert tails.count(0, lower, upper, 0.0, 1.0) == (x > upper).sum() == (x == 1).sum()
    assert tails.sizes.max() <= 13  # at most one value/count pair per side and batch


def test_tails_say_when_they_cannot_tell() -> None:
    x = np.arange(20000, dtype=float) ** 2  # sorted: the first batch is unlike the rest
    tails, lower, upper = _stream_tails(x, 1000, factor=0.1)
    assert lower > x.min() and tails.count(0, lower, upper, x.min(), x.max()) is None
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1, 20000)
    capped, lower, upper = _stream_tails(y, 1000, cap=10)
    assert capped.count(0, lower, upper, y.min(), y.max()) is None


def test_sorted_column_falls_back_to_an_exact_rescan(tmp_path: Path) -> None:
    frame = pd.DataFrame({"s": np.arange(6000, dtype=float) ** 2})
    path = tmp_path / "s.parquet"
    frame.to_parquet(path)
    with open_source(str(path)) as con:
        types = dict(schema(con))
        stats = first_moments(con, str(path), ["s"], types)
        out = stream_moments(con, str(path), ["s"], ["s"], stats, types, bins=20, zscore=3, iqr_factor=0.1, batch_rows=500, fine=True)
    iqr, x = out["s"]["outliers"]["iqr"], frame["s"].to_numpy()
    assert iqr["lower"] > x.min()  # a bound inside the data, outside the first batch's interval
    assert iqr["count"] == ((x < iqr["lower"]) | (x > iqr["upper"])).sum() > 0


def test_parquet_reader_matches_duckdb_reader(tmp_path: Path) -> None:
    table = pa.table({
        "i": pa.array([1, None, 3, 4, 2**40], pa.int64()),
        "f": pa.array([1.5, float("nan"), None, -2.0, 0.0], pa.float64()),
        "s": pa.array([1, 2, 3, 4, 5], pa.int16()),
        "d": pa.array([Decimal("1.25"), None, Decimal("-3.50"), Decimal("0"), Decimal("9.75")], pa.decimal128(5, 2)),
        "u": pa.array([7, 8, None, 9, 10], pa.uint32()),
    })  # fmt: skip
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    names = table.column_names
    with open_source(str(path)) as con:
        types = dict(schema(con))
        direct = list(numeric_batches(con, str(path), names, types, 2))
        through_duckdb = list(numeric_batches(con, None, names, types, 2))  # not a file: DuckDB reads ``src``
    for batches in (direct, through_duckdb):
        columns = [np.concatenate([b[j] for b in batches]) for j in range(len(names))]
        for j, name in enumerate(names):
            expected = np.array([np.nan if v is None else float(v) for v in table.column(name).to_pylist()])
            np.testing.assert_array_equal(columns[j], expected)


def test_prefetch_hands_on_errors_and_stops_its_thread() -> None:
    def broken():
        yield 1
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        list(_prefetched(broken(), 2))
    before = threading.active_count()
    items = _prefetched(iter(range(1000)), 2)
    assert next(items) == 0
    items.close()  # the consumer stops early: the reading thread must end, not wait forever
    assert threading.active_count() == before
