"""Model packages: portable, verified, and the same predictions through every entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forgeml.errors import ModelError, NotFoundError, ValidationError
from forgeml.registry import load_model, read_manifest, save_model
from forgeml.registry.package import MANIFEST
from tests.registry._models import FEATURES, frame, hgb_package, inputs


def test_package_predicts_identically_after_copy_in_a_fresh_process(tmp_path: Path) -> None:
    pkg = hgb_package(tmp_path / "pkg")
    X, _ = frame(n=50, seed=3)
    here = load_model(pkg).predict(X)
    elsewhere = tmp_path / "elsewhere" / "copy"
    shutil.copytree(pkg, elsewhere)
    shutil.rmtree(pkg)
    X.to_parquet(tmp_path / "rows.parquet")
    code = (
        "import sys, pandas as pd; from forgeml.registry import load_model; "
        "m = load_model(sys.argv[1]); m.predict(pd.read_parquet(sys.argv[2])).to_parquet(sys.argv[3])"
    )
    subprocess.run([sys.executable, "-c", code, str(elsewhere), str(tmp_path / "rows.parquet"), str(tmp_path / "out.parquet")], check=True)
    there = pd.read_parquet(tmp_path / "out.parquet")
    assert list(there.columns) == ["predicted_label", "probability", "score"]
    np.testing.assert_array_equal(there["predicted_label"].to_numpy(), here["predicted_label"].to_numpy())
    np.testing.assert_array_equal(there["score"].to_numpy(), here["score"].to_numpy())


def test_manifest_carries_signature_requirements_lineage_and_file_hashes(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = frame()
    save_model(LogisticRegression().fit(X, y), tmp_path / "p", task="binary", inputs=inputs(), lineage={"training_job": "t-1"})
    doc = json.loads((tmp_path / "p" / MANIFEST).read_text())
    assert [c["name"] for c in doc["signature"]["inputs"]] == FEATURES
    assert [o["name"] for o in doc["signature"]["outputs"]] == ["predicted_label", "probability", "score"]
    assert doc["classes"] == [0, 1]
    assert doc["lineage"] == {"training_job": "t-1"}
    assert any(r.startswith("scikit-learn==") for r in doc["requirements"])
    assert set(doc["files"]) == {"model.joblib"} and len(doc["files"]["model.joblib"]) == 64


def test_predict_numpy_matches_predict(tmp_path: Path) -> None:
    model = load_model(hgb_package(tmp_path / "pkg"))
    X, _ = frame(n=30, seed=5)
    fast = model.predict_numpy(X.to_numpy())
    slow = model.predict(X)
    for col in slow.columns:
        np.testing.assert_array_equal(fast[col], slow[col].to_numpy())
    one = model.predict_numpy(X.to_numpy()[0])
    assert one["score"].shape == (1,) and one["score"][0] == slow["score"].iloc[0]


def test_text_values_are_coerced_and_bad_ones_named(tmp_path: Path) -> None:
    model = load_model(hgb_package(tmp_path / "pkg"))
    X, _ = frame(n=5, seed=1)
    as_text = X.astype(str)
    pd.testing.assert_frame_equal(model.predict(as_text), model.predict(X))
    as_text.loc[3, "f2"] = "abc"
    with pytest.raises(ValidationError, match=r"column 'f2' row 3: 'abc' is not a number"):
        model.predict(as_text)
    with pytest.raises(ValidationError, match="missing column"):
        model.predict(X.drop(columns=["f4"]))


def test_wrong_width_on_the_fast_path_is_a_model_error(tmp_path: Path) -> None:
    model = load_model(hgb_package(tmp_path / "pkg"))
    with pytest.raises(ModelError):
        model.predict_numpy(np.zeros((2, 3)))


@pytest.mark.parametrize("damage", ["flip-byte", "truncate", "delete-model", "bad-json", "no-manifest", "wrong-format"])
def test_corrupted_packages_are_refused(tmp_path: Path, damage: str) -> None:
    pkg = hgb_package(tmp_path / "pkg")
    model_file = pkg / "model.joblib"
    manifest = pkg / MANIFEST
    if damage == "flip-byte":
        data = bytearray(model_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model_file.write_bytes(bytes(data))
    elif damage == "truncate":
        model_file.write_bytes(model_file.read_bytes()[:100])
    elif damage == "delete-model":
        model_file.unlink()
    elif damage == "bad-json":
        manifest.write_text("{not json")
    elif damage == "no-manifest":
        manifest.unlink()
    else:
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": "other/1"}))
    expected = NotFoundError if damage == "no-manifest" else ValidationError
    with pytest.raises(expected, match=r"corrupted|malformed|not a model package|not a ForgeML"):
        load_model(pkg)


def test_package_with_a_fitted_recipe_applies_it(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from forgeml.data.recipes import Recipe

    X, y = frame(n=300)
    X = X.assign(f5=X.f5 * 1000 + 50, kind=np.where(X.f3 > 0, "a", "b"))
    fitted = Recipe([{"type": "scale", "method": "standard"}, {"type": "encode", "method": "onehot"}]).fit(X)
    clf = LogisticRegression().fit(fitted.transform(X), y)
    sig = [*inputs(), {"name": "kind", "type": "object"}]
    save_model(clf, tmp_path / "p", task="binary", inputs=sig, recipe=fitted.to_dict())
    model = load_model(tmp_path / "p")
    assert read_manifest(tmp_path / "p").recipe_file == "recipe.json"
    got = model.predict(X.head(20))
    want = clf.predict_proba(fitted.transform(X.head(20)))[:, 1]
    np.testing.assert_allclose(got["score"].to_numpy(), want)
    fast = model.predict_numpy(X.head(20)[[c["name"] for c in sig]].to_numpy(dtype=object))
    np.testing.assert_allclose(fast["score"], want)


def test_regression_package_returns_prediction(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression as Ridge

    X, _ = frame(n=100)
    y = 3 * X.f0 - X.f1
    save_model(Ridge().fit(X, y), tmp_path / "r", task="regression", inputs=inputs())
    out = load_model(tmp_path / "r").predict(X.head(4))
    assert list(out.columns) == ["prediction"]
    np.testing.assert_allclose(out["prediction"].to_numpy(), (3 * X.f0 - X.f1).head(4).to_numpy(), atol=1e-9)


def test_save_refuses_bad_arguments(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression as Ridge

    X, y = frame(n=50)
    with pytest.raises(ValidationError, match="unknown task"):
        save_model(Ridge().fit(X, y), tmp_path / "a", task="ranking", inputs=inputs())
    save_model(Ridge().fit(X, y), tmp_path / "b", task="regression", inputs=inputs())
    with pytest.raises(ValidationError, match="already holds"):
        save_model(Ridge().fit(X, y), tmp_path / "b", task="regression", inputs=inputs())
