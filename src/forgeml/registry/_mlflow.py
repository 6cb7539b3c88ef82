"""MLflow model format, both directions.

Export writes an MLflow ``python_function`` model whose ``loader_module`` is
:mod:`forgeml.registry._mlflow_loader` and whose data is the ForgeML package itself, so
``mlflow.pyfunc.load_model(path).predict(frame)`` gives exactly ``load_model(package).predict``.

Import reads an MLflow model folder:

* a ForgeML export: the embedded package is copied back out unchanged;
* an ``mlflow.sklearn`` model: the estimator becomes a native ``sklearn`` package (signature from
  the MLmodel signature or the estimator's ``feature_names_in_``);
* any other pyfunc model: the folder is kept under ``mlflow/`` and served through
  ``mlflow.pyfunc`` (flavor ``mlflow``); it needs a signature with named inputs and a ``task``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

from forgeml.errors import ValidationError
from forgeml.registry._loaded import is_numeric_type
from forgeml.registry.package import (
    MANIFEST,
    ModelManifest,
    read_manifest,
    save_model,
    verify_package,
    write_manifest,
)

LOADER = "forgeml.registry._mlflow_loader"
_FROM_MLFLOW = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
                "boolean": "bool", "string": "object", "datetime": "datetime64[ns]", "binary": "object"}  # fmt: skip


def _mlflow_type(type_name: str | None) -> str:
    if is_numeric_type(type_name):
        return "double"  # MLflow upcasts integers to double safely; the package coerces back
    if type_name in ("bool", "boolean"):
        return "boolean"
    if type_name and type_name.startswith("datetime64"):
        return "datetime"
    return "string"


def export_mlflow(package: str | Path, dest: str | Path) -> Path:
    """Write the package at ``package`` as an MLflow pyfunc model folder ``dest``.

    Raises:
        ValidationError: ``dest`` exists and is not empty, or the package is corrupted.
    """
    import mlflow.pyfunc
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    manifest = verify_package(package)
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValidationError(f"{dest} exists and is not empty")
    if dest.exists():
        dest.rmdir()
    inputs = Schema([ColSpec(_mlflow_type(c.get("type")), c["name"]) for c in manifest.inputs])
    outputs = Schema([ColSpec("double" if o["type"] == "float64" else "string", o["name"]) for o in manifest.outputs()])
    reqs = [r for r in manifest.requirements if not r.startswith("xgboost-cpu")]
    with warnings.catch_warnings():
        # the signature is explicit, so MLflow's hint about input examples does not apply
        warnings.filterwarnings("ignore", message=".*input example was not provided", category=UserWarning)
        mlflow.pyfunc.save_model(
            str(dest), loader_module=LOADER, data_path=str(package),
            signature=ModelSignature(inputs=inputs, outputs=outputs), pip_requirements=[*reqs, "forgeml"],
        )  # fmt: skip
    return dest


def _mlmodel(src: Path) -> dict[str, Any]:
    import yaml

    file = src / "MLmodel"
    if not file.is_file():
        raise ValidationError(f"{src} is not an MLflow model (no MLmodel file)")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ValidationError(f"{file} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise ValidationError(f"{file} has no flavors")
    return data


def _signature_inputs(mlmodel: dict[str, Any]) -> list[dict[str, str]] | None:
    raw = (mlmodel.get("signature") or {}).get("inputs")
    if not raw:
        return None
    cols = json.loads(raw) if isinstance(raw, str) else raw
    if not all(isinstance(c, dict) and c.get("name") for c in cols):
        return None
    return [{"name": c["name"], "type": _FROM_MLFLOW.get(str(c.get("type")), "object")} for c in cols]


def _task_of(model: Any, task: str | None) -> str:
    if task:
        return task
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(model):
        return "binary" if len(getattr(model, "classes_", ())) == 2 else "multiclass"
    if is_regressor(model):
        return "regression"
    raise ValidationError(f"cannot tell the task of {type(model).__name__}; pass task=")


def import_mlflow(src: str | Path, dest: str | Path, *, task: str | None = None) -> ModelManifest:
    """Turn the MLflow model folder ``src`` into a ForgeML package at ``dest``.

    Raises:
        ValidationError: not an MLflow model, or not enough information (signature, task).
    """
    src, dest = Path(src), Path(dest)
    mlmodel = _mlmodel(src)
    flavors = mlmodel["flavors"]
    pyfunc = flavors.get("python_function") or {}
    lineage = {"imported_from": "mlflow", "mlflow_model_uuid": mlmodel.get("model_uuid"),
               "mlflow_run_id": mlmodel.get("run_id"), "mlflow_version": mlmodel.get("mlflow_version")}  # fmt: skip
    if pyfunc.get("loader_module") == LOADER:
        embedded = src / pyfunc["data"]
        read_manifest(embedded)
        shutil.copytree(embedded, dest, dirs_exist_ok=True)
        return verify_package(dest)
    inputs = _signature_inputs(mlmodel)
    if "sklearn" in flavors:
        import mlflow.sklearn

        model = mlflow.sklearn.load_model(str(src))
        if inputs is None and hasattr(model, "feature_names_in_"):
            inputs = [{"name": str(n), "type": "float64"} for n in model.feature_names_in_]
        if inputs is None:
            raise ValidationError(f"{src}: the MLflow model has no signature with named inputs and the estimator no feature names")
        return save_model(model, dest, task=_task_of(model, task), inputs=inputs, lineage=lineage)
    if not pyfunc:
        raise ValidationError(f"{src}: no python_function or sklearn flavor (found {', '.join(flavors)})")
    if inputs is None or task is None:
        raise ValidationError(f"{src}: a generic pyfunc model needs a signature with named inputs and an explicit task")
    dest.mkdir(parents=True, exist_ok=True)
    if (dest / MANIFEST).exists():
        raise ValidationError(f"{dest} already holds a model package")
    shutil.copytree(src, dest / "mlflow")
    manifest = ModelManifest(flavor="mlflow", task=task, inputs=inputs, model_file="mlflow",
                             algorithm=f"mlflow:{pyfunc.get('loader_module')}", lineage=lineage)  # fmt: skip
    return write_manifest(dest, manifest)


__all__ = ["LOADER", "export_mlflow", "import_mlflow"]
