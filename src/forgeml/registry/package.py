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
manifest lists, so a package that was changed or truncated after saving is refused. Those
hashes are the package's own word: a package registered in ``ws.registry`` is checked against the
digests ForgeML computed when it entered the registry instead (see ``forgeml.registry._files``).

**Pickle-based packages execute code when they are loaded** (flavor ``sklearn``: joblib; flavor
``mlflow``: cloudpickle and the model's own code): load only packages from trusted sources, or
load with ``trusted=False``, which runs only a compiled package's ONNX model and never unpickles.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from forgeml.errors import ValidationError
from forgeml.registry._loaded import LoadedModel

MANIFEST = "forgeml-model.json"
FORMAT = "forgeml-model/1"
TASKS = ("binary", "multiclass", "regression", "clustering", "anomaly", "projection", "forecast")
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
            "loading": loading_notice(self.flavor),
        }

    def outputs(self) -> list[dict[str, str]]:
        """The columns ``LoadedModel.predict`` returns."""
        if self.is_classifier:
            out = [{"name": "predicted_label", "type": "any"}, {"name": "probability", "type": "float64"}]
            if self.task == "binary":
                out.append({"name": "score", "type": "float64"})
            return out
        if self.task == "projection":  # PCA: one column per component
            k = int(self.extra.get("num_components") or 1)
            return [{"name": f"projection_{i}", "type": "float64"} for i in range(k)]
        if self.task == "forecast":  # DeepAR: a list of prediction_length values per column
            return [{"name": n, "type": "list"} for n in ["mean", *self.extra.get("quantiles", [])]]
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
    """The manifest of the package at ``path`` (not verified; see :func:`verify_package`).

    Raises:
        NotFoundError: ``path`` holds no manifest.
        ValidationError: the manifest is not valid JSON or misses fields.
    """
    from forgeml.registry._files import PackageFiles

    return PackageFiles(path).manifest()


def verify_package(path: str | Path, digests: dict[str, str] | None = None, *, origin: str | None = None) -> ModelManifest:
    """Check every file of the package; return the manifest.

    Args:
        path: the package folder.
        digests: the registry's sha256 of every file (a model version's ``spec.files``); without
            them the files are checked against the manifest's own hashes, which only catches
            accidents: whoever can write the folder can rewrite the manifest too.
        origin: what to call the package in errors (e.g. ``model/loans:3``).

    Raises:
        CorruptArtifactError: with ``digests``, a file was changed, removed or added.
        ValidationError: without them, a file is missing or changed; or the flavor is unknown.
    """
    from forgeml.registry._files import PackageFiles

    files = PackageFiles(path, digests, origin=origin)
    _check(files)
    return files.manifest()


def _check(files: Any) -> None:
    files.verify_all()
    manifest = files.manifest()
    if manifest.flavor not in FLAVORS:
        raise ValidationError(f"model flavor {manifest.flavor!r} is not supported (expected one of {', '.join(FLAVORS)})")
    if not (files.root / manifest.model_file).exists():
        raise ValidationError(f"model package {files.root} is corrupted: {manifest.model_file} is missing")


def load_model(
    path: str | Path,
    *,
    verify: bool = True,
    threads: int | None = None,
    trusted: bool = True,
    digests: dict[str, str] | None = None,
    origin: str | None = None,
) -> LoadedModel:
    """Load a model package folder for prediction.

    Pickle-based packages (flavor ``sklearn``: joblib; ``mlflow``: cloudpickle and the model's
    own Python code) run code while they load: load them only from sources you trust. With
    ``trusted=False`` only a compiled package's ONNX model is loaded, by ONNX Runtime, and nothing
    is unpickled.

    Args:
        path: the package folder.
        verify: re-hash every file first (the files that are loaded are always checked).
        threads: cap on the threads the model may use (ONNX Runtime intra-op threads).
        trusted: ``False`` refuses every package without an ONNX model (compile it first).
        digests: the registry's sha256 of every file (``ws.registry`` passes them); without them
            the manifest's own hashes are used.
        origin: what to call the package in errors.

    Raises:
        NotFoundError: no package at ``path``.
        ValidationError: a corrupted package (by its own manifest) or an unsupported flavor.
        CorruptArtifactError: a file differs from the registry's digests.
        ForbiddenError: ``trusted=False`` and the package has no ONNX model (or its recipe
            imports code).
    """
    from forgeml.registry._files import PackageFiles

    files = PackageFiles(path, digests, origin=origin)
    if verify:
        _check(files)
    return LoadedModel(path, manifest=files.manifest(), threads=threads, trusted=trusted, files=files)


def preflight(
    path: str | Path, *, trusted: bool = True, digests: dict[str, str] | None = None, origin: str | None = None
) -> ModelManifest:
    """Everything :func:`load_model` checks, without loading (or unpickling) anything.

    Used where a package is named (an endpoint or transform being created) but loaded later by
    another process, so bad packages are refused before anything starts.

    Raises:
        the same errors as :func:`load_model`.
    """
    from forgeml.registry._files import PackageFiles
    from forgeml.registry._trust import check_untrusted

    files = PackageFiles(path, digests, origin=origin)
    _check(files)
    if not trusted:
        check_untrusted(files)
    return files.manifest()


def loading_notice(flavor: str) -> str:
    """One line on what loading a package of this flavor executes (manifest, ``models show``)."""
    if flavor == "onnx":
        return "ONNX model run by ONNX Runtime: loading it runs no Python code (trusted=False loads it)"
    what = "MLflow pyfunc model (cloudpickle and its own Python code)" if flavor == "mlflow" else "pickle (joblib)"
    return f"{what}: loading it executes code; load only packages from trusted sources (trusted=False refuses it)"


__all__ = [
    "FLAVORS",
    "MANIFEST",
    "TASKS",
    "LoadedModel",
    "ModelManifest",
    "load_model",
    "loading_notice",
    "preflight",
    "read_manifest",
    "requirements",
    "save_model",
    "verify_package",
    "write_manifest",
]
