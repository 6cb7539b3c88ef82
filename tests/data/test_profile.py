"""Profiling in DuckDB, checked against numpy/pandas on the same data; the HTML report opens offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forgeml.data import profile_html
from forgeml.data._profile import profile
from forgeml.errors import NotFoundError, ValidationError


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 500
    x = rng.normal(50, 10, n)
    x[:5] = [500, -400, 300, 250, -200]  # planted outliers
    y = 2 * x + rng.normal(0, 1, n)
    cat = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]).astype(object)
    cat[10:20] = None
    return pd.DataFrame({"x": x, "y": y, "cat": cat, "label": (rng.random(n) < 0.2).astype(int)})


def _col(report: dict, name: str) -> dict:
    return next(c for c in report["columns"] if c["name"] == name)


def test_numeric_statistics_match_numpy(frame: pd.DataFrame) -> None:
    report = profile(frame, label="label", bins=10)
    x = _col(report, "x")
    assert report["rows"] == 500
    assert x["count"] == 500 and x["missing"] == 0 and x["distinct"] == frame["x"].nunique()
    assert x["min"] == frame["x"].min() and x["max"] == frame["x"].max()
    assert x["mean"] == pytest.approx(frame["x"].mean(), rel=1e-12)
    assert x["std"] == pytest.approx(frame["x"].std(ddof=1), rel=1e-12)
    for key, q in (("p01", 0.01), ("p25", 0.25), ("p50", 0.5), ("p99", 0.99)):
        assert x["quantiles"][key] == pytest.approx(np.quantile(frame["x"], q), rel=1e-12)
    counts, edges = np.histogram(frame["x"], bins=10, range=(frame["x"].min(), frame["x"].max()))
    assert x["histogram"]["counts"] == counts.tolist()
    np.testing.assert_allclose(x["histogram"]["edges"], edges)
    q1, q3 = np.quantile(frame["x"], [0.25, 0.75])
    iqr_out = ((frame["x"] < q1 - 1.5 * (q3 - q1)) | (frame["x"] > q3 + 1.5 * (q3 - q1))).sum()
    z_out = (np.abs(frame["x"] - frame["x"].mean()) > 3 * frame["x"].std()).sum()
    assert x["outliers"]["iqr"]["count"] == iqr_out >= 5
    assert x["outliers"]["zscore"]["count"] == z_out >= 5
    corr = report["correlations"]
    i, j = corr["columns"].index("x"), corr["columns"].index("y")
    assert corr["matrix"][i][j] == pytest.approx(np.corrcoef(frame["x"], frame["y"])[0, 1], rel=1e-9)


def test_categorical_missing_top_values_and_label_balance(frame: pd.DataFrame) -> None:
    report = profile(frame, label="label", top_k=2)
    cat = _col(report, "cat")
    assert cat["kind"] == "string" and cat["missing"] == 10 and cat["missing_fraction"] == 10 / 500
    expected = frame["cat"].value_counts().head(2)
    assert [(t["value"], t["count"]) for t in cat["top_values"]] == list(expected.items())
    label = report["label"]
    counts = frame["label"].value_counts()
    assert label["counts"] == {str(k): int(v) for k, v in counts.items()}
    assert label["imbalance_ratio"] == pytest.approx(counts.max() / counts.min())
    assert label["minority_class"] == str(counts.idxmin())
    json.dumps(report, allow_nan=False)


def test_profile_reads_parquet_and_renders_offline_html(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    report = profile(path, exact_max_rows=10)  # force the approximate (bounded-memory) quantiles
    assert report["quantiles_method"].startswith("approximate")
    assert _col(report, "x")["quantiles"]["p50"] == pytest.approx(frame["x"].median(), rel=0.02)
    page = profile_html(report, title="demo <profile>")
    assert page.startswith("<!doctype html>") and "<svg" in page and "demo &lt;profile&gt;" in page
    assert not re.search(r"(src|href)=\"https?://", page)  # nothing fetched from the network


def test_profile_errors() -> None:
    with pytest.raises(ValidationError, match="'nope' not in the data"):
        profile(pd.DataFrame({"a": [1]}), label="nope")
    with pytest.raises(NotFoundError):
        profile("/no/such/file.parquet")


def test_nan_in_parquet_counts_as_missing(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"v": pa.array([1.0, float("nan"), 3.0, None])}), path)  # one NaN, one null
    col = profile(path)["columns"][0]
    assert (col["count"], col["missing"], col["max"], col["mean"]) == (2, 2, 3.0, 2.0)
