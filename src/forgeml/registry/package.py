"""Model packages: a self-contained folder that predicts the same wherever it is loaded.

Layout::

    forgeml-model.json   manifest (format, flavor, task, signature, target, classes, metrics, ...)
    model.joblib         the fitted estimator (flavor "sklearn"; XGBoost/LightGBM sklearn API too)
    recipe.json          optional fitted preparation recipe, applied before the model

The manifest's ``signature.inputs`` lists the raw input columns (before the recipe) with their
types; ``signature.outputs`` describes predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forgeml.errors import ModelError, NotFoundError, ValidationError

MANIFEST = "forgeml-model.json"
FORMAT = "forgeml-model/1"
TASKS = ("binary", "multiclass", "regression", "clustering", "anomaly")


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

    @property
    def feature_names(self) -> list[str]:
        return [c["name"] for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "flavor": self.flavor,
            "task": self.task,
            "algorithm": self.algorithm,
            "signature": {"inputs": self.inputs, "outputs": self._outputs()},
            "target": self.target,
            "classes": self.classes,
            "model_file": self.model_file,
            "recipe_file": self.recipe_file,
            "metrics": self.metrics,
            "requirements": self.requirements,
            "extra": self.extra,
        }

    def _outputs(self) -> list[dict[str, str]]:
        if self.task in ("binary", "multiclass"):
            return [{"name": "predicted_label", "type": "any"}, {"name": "probability", "type": "float64"}]
        return [{"name": "prediction", "type": "float64"}]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelManifest:
        if data.get("format") != FORMAT:
            raise ValidationError(f"not a ForgeML model manifest (format {data.get('format')!r})")
        return cls(
            flavor=data["flavor"], task=data["task"], inputs=data["signature"]["inputs"],
            target=data.get("target"), classes=data.get("classes"), model_file=data["model_file"],
            recipe_file=data.get("recipe_file"), algorithm=data.get("algorithm"),
            metrics=data.get("metrics", {}), requirements=data.get("requirements", []),
            extra=data.get("extra", {}),
        )  # fmt: skip


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("scikit-learn", "numpy", "pandas", "xgboost-cpu", "lightgbm"):
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            continue
    return out


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
) -> ModelManifest:
    """Write a fitted scikit-learn-API estimator as a model package folder.

    Args:
        model: an estimator with ``predict`` (and ``predict_proba`` for classifiers).
        path: the folder to create (must not hold a package already).
        task: one of ``TASKS``.
        inputs: the raw input columns ``[{"name":..., "type":...}]`` the package accepts.
        recipe: a fitted preparation recipe as a JSON-serializable dict, applied before ``model``.
    """
    import joblib

    if task not in TASKS:
        raise ValidationError(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if (path / MANIFEST).exists():
        raise ValidationError(f"{path} already holds a model package")
    joblib.dump(model, path / "model.joblib")
    recipe_file = None
    if recipe is not None:
        (path / "recipe.json").write_text(json.dumps(recipe, sort_keys=True))
        recipe_file = "recipe.json"
    manifest = ModelManifest(
        flavor="sklearn", task=task, inputs=inputs, target=target,
        classes=[c.item() if hasattr(c, "item") else c for c in classes] if classes is not None else None,
        recipe_file=recipe_file, algorithm=algorithm or type(model).__name__,
        metrics=metrics or {}, requirements=_requirements(), extra=extra or {},
    )  # fmt: skip
    (path / MANIFEST).write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True))
    return manifest


def read_manifest(path: str | Path) -> ModelManifest:
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise NotFoundError(f"{path} is not a model package (no {MANIFEST})")
    try:
        return ModelManifest.from_dict(json.loads(file.read_text()))
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{file} is malformed: {exc}") from None


class LoadedModel:
    """A model package loaded for prediction.

    ``predict(frame)`` applies the recipe (when the package has one) and the model, and returns a
    frame with ``predicted_label`` and ``probability`` (classifiers) or ``prediction``.
    """

    def __init__(self, path: str | Path) -> None:
        import joblib

        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if self.manifest.flavor != "sklearn":
            raise ValidationError(f"model flavor {self.manifest.flavor!r} is not supported by this loader")
        self.model = joblib.load(self.path / self.manifest.model_file)
        self.recipe: Any = None
        if self.manifest.recipe_file:
            from forgeml.registry._recipes import load_recipe

            self.recipe = load_recipe(json.loads((self.path / self.manifest.recipe_file).read_text()))

    def check_input(self, frame: Any) -> Any:
        """Select and order the signature's columns.

        Raises:
            ValidationError: when a column is missing.
        """
        missing = [c for c in self.manifest.feature_names if c not in frame.columns]
        if missing:
            raise ValidationError(f"input is missing column(s): {', '.join(missing)}")
        return frame[self.manifest.feature_names]

    def prepare(self, frame: Any) -> Any:
        frame = self.check_input(frame)
        return self.recipe.transform(frame) if self.recipe is not None else frame

    def predict(self, frame: Any) -> Any:
        """Predictions for every row of ``frame`` as a pandas frame.

        Raises:
            ValidationError: bad input columns.
            ModelError: the model raised while predicting.
        """
        import pandas as pd

        X = self.prepare(frame)
        try:
            if self.manifest.task in ("binary", "multiclass") and hasattr(self.model, "predict_proba"):
                proba = self.model.predict_proba(X)
                classes = self.manifest.classes or list(range(proba.shape[1]))
                labels = [classes[i] for i in proba.argmax(axis=1)]
                out = pd.DataFrame({"predicted_label": labels, "probability": proba.max(axis=1)})
                if self.manifest.task == "binary":
                    out["score"] = proba[:, 1]
                return out
            return pd.DataFrame({"prediction": self.model.predict(X)})
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise ModelError(f"model raised {type(exc).__name__}: {exc}") from None


def load_model(path: str | Path) -> LoadedModel:
    """Load a model package folder."""
    return LoadedModel(path)


__all__ = ["MANIFEST", "TASKS", "LoadedModel", "ModelManifest", "load_model", "read_manifest", "save_model"]
