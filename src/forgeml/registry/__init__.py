"""Model registry: model packages, groups and versions, approval, compilation."""

from forgeml.registry.package import LoadedModel, ModelManifest, load_model, read_manifest, save_model

__all__ = ["LoadedModel", "ModelManifest", "load_model", "read_manifest", "save_model"]
