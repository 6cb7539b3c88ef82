"""Model packages: a self-contained folder that predicts the same wherever it is loaded.

Layout::

    forgeml-model.json   manifest (format, flavor, task, signature, target, classes, metrics,
                         requirements, lineage, sha256 of every other file)
    model.joblib         the fitted estimator (flavor "sklearn"; XGBoost/LightGBM sklearn API too)
    model.onnx           the compiled model (flavor "onnx", see ``forgeml.registry.compile_package``)
    mlflow/              an imported MLflow pyfunc model (flavor "mlflow")
    recipe.json          optional fitted preparation recipe, applied before the model

The manifest's ``signature.inputs`` lists the raw input columns (before the recipe) with their
types; ``signature.outputs`` describes predictions. :func:`load_model` re-hashes every file the
manifest lists, so a package that was changed or truncated after saving is refused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from forgeml.errors import NotFoundError, ValidationError
from forgeml.registry._loaded import LoadedModel

MANIFEST = "forgeml-model.json"
FORMAT = "forgeml-model/1"
TASKS = ("binary", "multiclass", "regression", "clustering", "anomaly")
FLAVORS = ("sklearn", "onnx", "mlflow")


@dataclass(frozen=True)
class ModelManifest:
    """What a model package says about itself."""

    flavor: str
    task: str
    inputs: list[dict[str, str]]
    target: str | None = None
    classes: list[Any] | None = None
    model_file: str = "model.joblib"
    recipe_file: str | None = None
    algorithm: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    requirements: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    compiled: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)
    created_at: float | None = None

    @property
    def feature_names(self) -> list[str]:
        return [c["name"] for c in self.inputs]

    @property
    def is_classifier(self) -> bool:
        return self.task in ("binary", "multiclass")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "flavor": self.flavor,
            "task": self.task,
            "algorithm": self.algorithm,
            "signature": {"inputs": self.inputs, "outputs": self.outputs()},
            "target": self.target,
            "classes": self.classes,
            "model_file": self.model_file,
            "recipe_file": self.recipe_file,
            "metrics": self.metrics,
            "requirements": self.requirements,
            "extra": self.extra,
            "lineage": self.lineage,
            "compiled": self.compiled,
            "files": self.files,
            "created_at": self.created_at,
        }

    def outputs(self) -> list[dict[str, str]]:
        """The columns ``LoadedModel.predict`` returns."""
        if self.is_classifier:
            out = [{"name": "predicted_label", "type": "any"}, {"name": "probability", "type": "float64"}]
            if self.task == "binary":
                out.append({"name": "score", "type": "float64"})
            return out
        return [{"name": "prediction", "type": "float64"}]

    _outputs = outputs  # older name, kept for callers of the first version

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelManifest:
        """Parse a manifest document.

        Raises:
            ValidationError: not a ForgeML manifest, or a required field is missing.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            fmt = data.get("format") if isinstance(data, dict) else None
            raise ValidationError(f"not a ForgeML model manifest (format {fmt!r})")
        try:
            return cls(
                flavor=data["flavor"], task=data["task"], inputs=data["signature"]["inputs"],
                target=data.get("target"), classes=data.get("classes"), model_file=data["model_file"],
                recipe_file=data.get("recipe_file"), algorithm=data.get("algorithm"),
                metrics=data.get("metrics") or {}, requirements=data.get("requirements") or [],
                extra=data.get("extra") or {}, lineage=data.get("lineage") or {},
                compiled=data.get("compiled"), files=data.get("files") or {},
                created_at=data.get("created_at"),
            )  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise ValidationError(f"model manifest lacks field {exc}") from None


def requirements() -> list[str]:
    """Pinned versions of the libraries a package needs to predict identically."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("scikit-learn", "numpy", "pandas", "xgboost-cpu", "lightgbm", "onnxruntime"):
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            continue
    return out


_requirements = requirements


def _plain(values: list[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    return [v.item() if hasattr(v, "item") else v for v in values]


def write_manifest(path: str | Path, manifest: ModelManifest) -> ModelManifest:
    """Hash every file in ``path`` into the manifest and write it; the package is then complete."""
    from forgeml.core.artifacts import sha256_file

    path = Path(path)
    files = {
        p.relative_to(path).as_posix(): sha256_file(p)
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    manifest = replace(manifest, files=files, created_at=manifest.created_at or time.time())
    tmp = path / f".{MANIFEST}.part"
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True, default=str))
    tmp.replace(path / MANIFEST)
    return manifest


def save_model(
    model: Any,
    path: str | Path,
    *,
    task: str,
    inputs: list[dict[str, str]],
    target: str | None = None,
    classes: list[Any] | None = None,
    algorithm: str | None = None,
    recipe: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    extra: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
) -> ModelManifest:
    """Write a fitted scikit-learn-API estimator as a model package folder.

    Args:
        model: an estimator with ``predict`` (and ``predict_proba`` for classifiers).
        path: the folder to create (must not hold a package already).
        task: one of ``TASKS``.
        inputs: the raw input columns ``[{"name":..., "type":...}]`` the package accepts.
        target: the label column's name (documentation; never required at prediction).
        classes: class labels in the order of ``predict_proba``'s columns.
        recipe: a fitted preparation recipe as a JSON-serializable dict, applied before ``model``.
        metrics: evaluation numbers to carry with the package.
        lineage: where the model came from, e.g. ``{"training_job": "...", "datasets": [...]}``.

    Raises:
        ValidationError: unknown task, empty inputs, or ``path`` already holds a package.
    """
    import joblib

    if task not in TASKS:
        raise ValidationError(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
    if not inputs or not all(isinstance(c, dict) and "name" in c for c in inputs):
        raise ValidationError("inputs must be a non-empty list of {'name': ..., 'type': ...}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if (path / MANIFEST).exists():
        raise ValidationError(f"{path} already holds a model package")
    if classes is None and task in ("binary", "multiclass") and hasattr(model, "classes_"):
        classes = list(model.classes_)
    joblib.dump(model, path / "model.joblib")
    recipe_file = None
    if recipe is not None:
        (path / "recipe.json").write_text(json.dumps(recipe, sort_keys=True, default=str))
        recipe_file = "recipe.json"
    manifest = ModelManifest(
        flavor="sklearn", task=task, inputs=[dict(c) for c in inputs], target=target,
        classes=_plain(classes), recipe_file=recipe_file, algorithm=algorithm or type(model).__name__,
        metrics=metrics or {}, requirements=requirements(), extra=extra or {}, lineage=lineage or {},
    )  # fmt: skip
    return write_manifest(path, manifest)


def read_manifest(path: str | Path) -> ModelManifest:
    """The manifest of the package at ``path``.

    Raises:
        NotFoundError: ``path`` holds no manifest.
        ValidationError: the manifest is not valid JSON or misses fields.
    """
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise NotFoundError(f"{path} is not a model package (no {MANIFEST})")
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{file} is malformed: {exc}") from None
    return ModelManifest.from_dict(data)


def verify_package(path: str | Path) -> ModelManifest:
    """Check every file against the manifest's sha256; return the manifest.

    Raises:
        ValidationError: a file is missing, changed, or the flavor is unknown.
    """
    from forgeml.core.artifacts import sha256_file

    path = Path(path)
    manifest = read_manifest(path)
    if manifest.flavor not in FLAVORS:
        raise ValidationError(f"model flavor {manifest.flavor!r} is not supported (expected one of {', '.join(FLAVORS)})")
    if not (path / manifest.model_file).exists():
        raise ValidationError(f"model package {path} is corrupted: {manifest.model_file} is missing")
    for rel, digest in manifest.files.items():
        file = path / rel
        if not file.is_file():
            raise ValidationError(f"model package {path} is corrupted: {rel} is missing")
        if sha256_file(file) != digest:
            raise ValidationError(f"model package {path} is corrupted: {rel} does not match its sha256")
    return manifest


def load_model(path: str | Path, *, verify: bool = True, threads: int | None = None) -> LoadedModel:
    """Load a model package folder for prediction.

    Args:
        path: the package folder.
        verify: re-hash every file against the manifest first (refuse corrupted packages).
        threads: cap on the threads the model may use (ONNX Runtime intra-op threads).

    Raises:
        NotFoundError: no package at ``path``.
        ValidationError: a corrupted package or an unsupported flavor.
    """
    manifest = verify_package(path) if verify else read_manifest(path)
    return LoadedModel(path, manifest=manifest, threads=threads)


__all__ = [
    "FLAVORS",
    "MANIFEST",
    "TASKS",
    "LoadedModel",
    "ModelManifest",
    "load_model",
    "read_manifest",
    "requirements",
    "save_model",
    "verify_package",
    "write_manifest",
]
