"""Preparation recipes: each step against hand-computed values or scikit-learn, and the JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import preprocessing
from sklearn.preprocessing import KBinsDiscretizer, PowerTransformer, TargetEncoder

from forgeml.data.recipes import FittedRecipe, Recipe, Scale
from forgeml.errors import ValidationError


def _roundtrip(fitted: FittedRecipe) -> FittedRecipe:
    return FittedRecipe.from_dict(json.loads(json.dumps(fitted.to_dict(), allow_nan=False)))


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60
    return pd.DataFrame({
        "x": rng.normal(10, 3, n),
        "z": rng.exponential(2.0, n),
        "color": rng.choice(["red", "green", "blue"], n),
        "y": rng.integers(0, 2, n),
    })  # fmt: skip


@pytest.mark.parametrize(
    ("method", "cls"),
    [("standard", "StandardScaler"), ("minmax", "MinMaxScaler"), ("robust", "RobustScaler"), ("maxabs", "MaxAbsScaler")],
)
def test_scale_matches_sklearn_on_new_data(frame: pd.DataFrame, method: str, cls: str) -> None:
    fitted = Recipe([{"type": "scale", "method": method, "columns": ["x", "z"]}]).fit(frame)
    new = frame.sample(20, random_state=1)
    new = new.assign(x=new["x"] * 1.5, z=new["z"] - 2)
    expected = getattr(preprocessing, cls)().fit(frame[["x", "z"]].to_numpy()).transform(new[["x", "z"]].to_numpy())
    out = _roundtrip(fitted).transform(new)
    np.testing.assert_allclose(out[["x", "z"]].to_numpy(), expected, rtol=1e-12, atol=1e-12)
    assert list(out.index) == list(new.index)


def test_impute_mean_median_mode_constant_with_indicator() -> None:
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0, 10.0], "b": ["u", None, "v", "v"], "c": [np.nan, 2.0, 2.0, 5.0]})
    fitted = Recipe([
        {"type": "impute", "strategy": "mean", "columns": ["a"], "indicator": True},
        {"type": "impute", "strategy": "mode", "columns": ["b"]},
        {"type": "impute", "strategy": "constant", "fill_value": -1, "columns": ["c"]},
    ]).fit(df)  # fmt: skip
    out = fitted.transform(pd.DataFrame({"a": [np.nan], "b": [None], "c": [np.nan]}))
    assert out.loc[0, "a"] == pytest.approx(14 / 3)
    assert out.loc[0, "a_missing"] == 1.0
    assert out.loc[0, "b"] == "v"
    assert out.loc[0, "c"] == -1
    med = Recipe([{"type": "impute", "strategy": "median", "columns": ["a"]}]).fit(df[["a"]])
    assert med.transform(pd.DataFrame({"a": [np.nan]})).loc[0, "a"] == 3.0


def test_forward_fill_uses_order_and_fit_fallback() -> None:
    df = pd.DataFrame({"t": [3, 1, 2, 4], "v": [np.nan, 5.0, np.nan, 7.0]})
    fitted = Recipe([{"type": "impute", "strategy": "ffill", "order_by": "t", "columns": ["v"]}]).fit(df)
    out = fitted.transform(df)
    assert out["v"].tolist() == [5.0, 5.0, 5.0, 7.0]
    # a single serving row with nothing before it gets the last training value (7.0 at t=4)
    assert fitted.transform(pd.DataFrame({"t": [9], "v": [np.nan]}))["v"].tolist() == [7.0]


def test_onehot_unseen_categories() -> None:
    df = pd.DataFrame({"c": ["a", "b", "a", "c", "a", "b"]})
    ignore = Recipe([{"type": "encode", "method": "onehot"}]).fit(df)
    assert ignore.output_columns == ["c_a", "c_b", "c_c"]
    assert ignore.transform(pd.DataFrame({"c": ["zz", "b"]})).to_numpy().tolist() == [[0, 0, 0], [0, 1, 0]]
    rare = Recipe([{"type": "encode", "handle_unknown": "infrequent", "min_frequency": 2}]).fit(df)
    assert rare.output_columns == ["c_a", "c_b", "c_infrequent"]
    assert rare.transform(pd.DataFrame({"c": ["c", "zz", "a"]})).to_numpy().tolist() == [[0, 0, 1], [0, 0, 1], [1, 0, 0]]
    strict = Recipe([{"type": "encode", "handle_unknown": "error"}]).fit(df)
    with pytest.raises(ValidationError, match="unseen category 'zz'"):
        strict.transform(pd.DataFrame({"c": ["zz"]}))


def test_ordinal_and_frequency_encoding() -> None:
    df = pd.DataFrame({"c": ["lo", "hi", "mid", "hi"], "d": [1, 1, 2, 3]})
    fitted = Recipe([
        {"type": "encode", "method": "ordinal", "columns": ["c"], "order": {"c": ["lo", "mid", "hi"]}},
        {"type": "encode", "method": "frequency", "columns": ["d"]},
    ]).fit(df)  # fmt: skip
    out = fitted.transform(pd.DataFrame({"c": ["hi", "new"], "d": [1.0, 9]}))
    assert out["c"].tolist() == [2.0, -1.0]
    assert out["d"].tolist() == [0.5, 0.0]  # 1 and 1.0 are the same category


def test_target_encoding_matches_sklearn_fixed_smoothing(frame: pd.DataFrame) -> None:
    fitted = Recipe([{"type": "encode", "method": "target", "columns": ["color"], "smooth": 4}]).fit(frame, target="y")
    enc = TargetEncoder(smooth=4.0, target_type="continuous").fit(frame[["color"]], frame["y"].astype(float))
    expected = dict(zip(enc.categories_[0], enc.encodings_[0], strict=True))
    out = fitted.transform(frame)
    np.testing.assert_allclose(out["color"], frame["color"].map(expected))
    assert "y" not in fitted.input_columns
    unseen = fitted.transform(frame.head(1).assign(color="purple"))
    assert unseen["color"].iloc[0] == pytest.approx(frame["y"].mean())


def test_bin_uniform_matches_kbins(frame: pd.DataFrame) -> None:
    fitted = Recipe([{"type": "bin", "method": "uniform", "n_bins": 4, "columns": ["x"]}]).fit(frame)
    expected = KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="uniform").fit(frame[["x"]]).transform(frame[["x"]])
    np.testing.assert_array_equal(fitted.transform(frame)["x"].to_numpy(), expected[:, 0])
    custom = Recipe([{"type": "bin", "method": "custom", "edges": [0, 5, 10, 20], "columns": ["x"]}]).fit(frame[["x"]])
    assert custom.transform(pd.DataFrame({"x": [-3.0, 5.0, 9.9, 50.0, np.nan]}))["x"].tolist()[:4] == [0.0, 1.0, 1.0, 2.0]


@pytest.mark.parametrize("method", ["yeo-johnson", "box-cox"])
def test_power_matches_sklearn(frame: pd.DataFrame, method: str) -> None:
    fitted = Recipe([{"type": "power", "method": method, "columns": ["z"]}]).fit(frame)
    pt = PowerTransformer(method=method, standardize=False).fit(frame[["z"]])
    np.testing.assert_allclose(fitted.transform(frame)["z"], pt.transform(frame[["z"]])[:, 0], rtol=1e-9)


def test_log_shift_and_outlier_methods() -> None:
    df = pd.DataFrame({"v": [-1.0, 0.0, 1.0, 2.0, 3.0, 100.0]})
    logged = Recipe([{"type": "log"}]).fit(df).transform(df)
    np.testing.assert_allclose(logged["v"], np.log1p(df["v"] + 1))
    q1, q3 = np.quantile(df["v"], [0.25, 0.75])
    clip = Recipe([{"type": "outliers", "method": "iqr", "action": "clip"}]).fit(df)
    assert clip.transform(df)["v"].max() == pytest.approx(q3 + 1.5 * (q3 - q1))
    remove = Recipe([{"type": "outliers", "method": "iqr", "action": "remove"}]).fit(df)
    assert remove.transform(df, training=True).index.tolist() == [0, 1, 2, 3, 4]
    assert len(remove.transform(df)) == 6  # serving never drops rows


def test_dedup_training_only_keeps_index_and_target() -> None:
    df = pd.DataFrame({"a": [1, 1, 2], "label": [0, 0, 1]}, index=[10, 11, 12])
    fitted = Recipe([{"type": "dedup"}]).fit(df, target="label")
    train = fitted.transform(df, training=True)
    assert train.index.tolist() == [10, 12]
    assert train["label"].tolist() == [0, 1]
    assert fitted.transform(df).index.tolist() == [10, 11, 12]


def test_datetime_timeseries_text_parts() -> None:
    df = pd.DataFrame({
        "when": pd.to_datetime(["2024-03-02 10:00", "2024-03-04 11:00", "2024-03-01 09:00", "2024-03-05 08:00"]),
        "who": ["a", "a", "b", "a"],
        "amt": [1.0, 2.0, 10.0, 4.0],
        "note": ["Hi there 42", "ok", "A-B", "x"],
    })  # fmt: skip
    fitted = Recipe([
        {"type": "timeseries", "time": "when", "entity": "who", "columns": ["amt"], "lags": [1], "windows": [2], "diffs": [1]},
        {"type": "datetime", "parts": ["dayofweek", "weekend", "hour"]},
        {"type": "text", "features": ["length", "words", "digits"], "columns": ["note"]},
    ]).fit(df)  # fmt: skip
    out = fitted.transform(df)
    assert out["amt_lag1"][1] == 1.0
    assert np.isnan(out["amt_lag1"][0]) and np.isnan(out["amt_lag1"][2])
    assert out["amt_lag1"][3] == 2.0
    assert out["amt_rollmean2"].tolist() == [1.0, 1.5, 10.0, 3.0]
    assert out["amt_diff1"][3] == 2.0
    assert out["when_dayofweek"].tolist() == [5.0, 0.0, 4.0, 1.0]
    assert out["when_weekend"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out[["note_length", "note_words", "note_digits"]].iloc[0].tolist() == [11.0, 3.0, 2.0]
    assert "when" not in out.columns and "note" not in out.columns


def test_custom_step_by_import_path() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0]})
    fitted = Recipe([{"type": "custom", "function": "numpy:sqrt"}]).fit(df)
    assert fitted.transform(pd.DataFrame({"a": [9.0]}))["a"].tolist() == [3.0]
    with pytest.raises(ValidationError, match="importable"):
        Recipe([{"type": "custom", "function": lambda f: f}])
    with pytest.raises(ValidationError, match="cannot import"):
        Recipe([{"type": "custom", "function": "no_such_module_x:f"}]).fit(df)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"steps": [{"type": "frobnicate"}]}, "unknown step type 'frobnicate'"),
        ({"steps": [{"type": "scale", "method": "zscore"}]}, r"recipe step 1 \(scale\): method"),
        ({"steps": [{"type": "scale", "colums": ["x"]}]}, "colums"),
        ({"steps": [{"type": "impute", "strategy": "constant"}]}, "needs fill_value"),
        ({"steps": "scale"}, "'steps' must be a list"),
        ({"step": []}, "unknown key"),
    ],
)
def test_bad_specs_give_clear_errors(spec: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Recipe.from_dict(spec)


def test_missing_columns_and_malformed_yaml(frame: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match=r"step 1 \(scale\).*'nope' not in the data"):
        Recipe([Scale(columns=["nope"])]).fit(frame)
    with pytest.raises(ValidationError, match="YAML is malformed at line"):
        Recipe.from_yaml("steps:\n  - {type: scale\n")
    fitted = Recipe([Scale(columns=["x"])]).fit(frame)
    with pytest.raises(ValidationError, match="missing column"):
        fitted.transform(frame.drop(columns=["z"]))
    with pytest.raises(ValidationError, match="not a fitted ForgeML recipe"):
        FittedRecipe.from_dict({"steps": []})


def test_spec_roundtrip_yaml_and_dict() -> None:
    text = "name: demo\nsteps:\n  - {type: impute, strategy: median}\n  - {type: scale, method: robust}\n  - {type: encode}\n"
    recipe = Recipe.from_yaml(text)
    assert Recipe.from_dict(recipe.to_dict()).to_dict() == recipe.to_dict()
    assert recipe.to_dict()["steps"][1] == {"type": "scale", "method": "robust"}


_cells = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nums=st.lists(st.tuples(_cells, _cells), min_size=3, max_size=30),
    cats=st.lists(st.sampled_from(["a", "b", "c", None]), min_size=30, max_size=30),
    scaler=st.sampled_from(["standard", "minmax", "robust", "maxabs"]),
    outlier=st.sampled_from(["std", "robust_std", "iqr", "quantile"]),
)
def test_reloaded_recipe_transforms_identically(nums: list, cats: list, scaler: str, outlier: str) -> None:
    n = len(nums)
    df = pd.DataFrame({
        "p": [a for a, _ in nums], "q": [b for _, b in nums], "k": pd.Series(cats[:n], dtype=object),
    }).astype({"p": "float64", "q": "float64"})  # fmt: skip
    recipe = Recipe([
        {"type": "impute", "strategy": "median", "indicator": True, "columns": ["p", "q"]},
        {"type": "outliers", "method": outlier, "columns": ["p"]},
        {"type": "scale", "method": scaler, "columns": ["p", "q"]},
        {"type": "bin", "n_bins": 3, "columns": ["q"]},
        {"type": "encode", "method": "onehot", "columns": ["k"], "handle_unknown": "infrequent"},
    ])  # fmt: skip
    fitted = recipe.fit(df)
    again = _roundtrip(fitted)
    pd.testing.assert_frame_equal(fitted.transform(df), again.transform(df))
    shuffled = df.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(fitted.transform(shuffled), again.transform(shuffled).loc[shuffled.index])
    out = again.transform(df)
    assert list(out.columns) == fitted.output_columns
    assert all(pd.api.types.is_numeric_dtype(t) for t in out.dtypes)
    # row-wise: transforming one row alone equals that row of the batch (no batch statistics)
    pd.testing.assert_frame_equal(again.transform(df.iloc[[n - 1]]), out.iloc[[n - 1]])


def test_target_values_are_aligned_by_position(frame: pd.DataFrame) -> None:
    spec = [{"type": "encode", "method": "target", "columns": ["color"], "smooth": 0}]
    by_name = Recipe(spec).fit(frame, target="y")
    shifted = frame.set_axis(range(1000, 1000 + len(frame)))
    by_values = Recipe(spec).fit(shifted.drop(columns=["y"]), target=frame["y"])  # index differs
    pd.testing.assert_frame_equal(by_name.transform(frame), by_values.transform(frame))
    with pytest.raises(ValidationError, match="target has 3 values"):
        Recipe(spec).fit(frame.drop(columns=["y"]), target=[0, 1, 0])
