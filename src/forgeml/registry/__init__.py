"""Model registry: model packages, groups and versions, approval, aliases, compilation, MLflow."""

from forgeml.registry._approval import APPROVAL_STATUSES, TRANSITIONS, check_approval_transition
from forgeml.registry._compile import compile_package
from forgeml.registry._mlflow import export_mlflow, import_mlflow
from forgeml.registry._service import GROUP_KIND, KIND, RegistryService
from forgeml.registry.package import (
    LoadedModel,
    ModelManifest,
    load_model,
    read_manifest,
    save_model,
    verify_package,
)

__all__ = [
    "APPROVAL_STATUSES",
    "GROUP_KIND",
    "KIND",
    "TRANSITIONS",
    "LoadedModel",
    "ModelManifest",
    "RegistryService",
    "check_approval_transition",
    "compile_package",
    "export_mlflow",
    "import_mlflow",
    "load_model",
    "read_manifest",
    "save_model",
    "verify_package",
]
