"""MLflow pyfunc import and export, checked with MLflow's own loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.registry import export_mlflow, import_mlflow, load_model
from tests.registry._models import frame, hgb_package


def test_exported_package_loads_and_predicts_in_mlflow(tmp_path: Path) -> None:
    import mlflow.pyfunc

    pkg = hgb_package(tmp_path / "pkg")
    out = export_mlflow(pkg, tmp_path / "mlflow-model")
    X, _ = frame(n=25, seed=6)
    pyfunc = mlflow.pyfunc.load_model(str(out))
    got = pyfunc.predict(X)
    want = load_model(pkg).predict(X)
    np.testing.assert_array_equal(got["score"].to_numpy(), want["score"].to_numpy())
    np.testing.assert_array_equal(got["predicted_label"].to_numpy(), want["predicted_label"].to_numpy())
    assert [c.name for c in pyfunc.metadata.get_input_schema().inputs] == list(X.columns)
    with pytest.raises(ValidationError, match="not empty"):
        export_mlflow(pkg, tmp_path / "mlflow-model")


def test_import_of_an_mlflow_sklearn_model(ws: Workspace, tmp_path: Path) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X, y = frame(n=200)
    model = LogisticRegression().fit(X, y)
    mlflow.sklearn.save_model(
        model, str(tmp_path / "sk"), signature=infer_signature(X, model.predict(X)),
        serialization_format="cloudpickle", pip_requirements=["scikit-learn"],
    )  # fmt: skip
    record = ws.registry.import_mlflow(tmp_path / "sk", "imported")
    assert (record.spec["task"], record.spec["flavor"]) == ("binary", "sklearn")
    assert [c["name"] for c in record.spec["inputs"]] == list(X.columns)
    got = ws.registry.load("imported", 1).predict(X.head(30))
    np.testing.assert_allclose(got["score"].to_numpy(), model.predict_proba(X.head(30))[:, 1])


def test_round_trip_export_then_import_restores_the_package(ws: Workspace, tmp_path: Path) -> None:
    ws.registry.register("loans", hgb_package(tmp_path / "pkg"))
    ws.registry.export_mlflow("loans", 1, tmp_path / "exported")
    back = ws.registry.import_mlflow(tmp_path / "exported", "loans")
    assert back.version == 2 and back.spec["package"] == ws.registry.get("loans", 1).spec["package"]


def test_import_refuses_folders_that_are_not_mlflow_models(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match="no MLmodel file"):
        import_mlflow(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "MLmodel").write_text("flavors: [1, 2")
    with pytest.raises(ValidationError, match="not valid YAML"):
        import_mlflow(tmp_path / "bad", tmp_path / "out")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "MLmodel").write_text("flavors:\n  keras: {}\n")
    with pytest.raises(ValidationError, match="no python_function or sklearn flavor"):
        import_mlflow(tmp_path / "other", tmp_path / "out")
