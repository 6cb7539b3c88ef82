"""MLflow ``loader_module`` of exported ForgeML packages: ``_load_pyfunc(data_path)``."""

from __future__ import annotations

from typing import Any

from forgeml.registry.package import load_model


class ForgeMLPyfunc:
    """What ``mlflow.pyfunc.load_model`` wraps: predicts like ``LoadedModel.predict``."""

    def __init__(self, path: str) -> None:
        self.model = load_model(path)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input, columns=self.model.feature_names)
        return self.model.predict(model_input)


def _load_pyfunc(data_path: str) -> ForgeMLPyfunc:
    return ForgeMLPyfunc(data_path)


__all__ = ["ForgeMLPyfunc"]
