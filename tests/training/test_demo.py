"""The demo's training stage on its own state inputs."""

from __future__ import annotations

import numpy as np

from forgeml.core.workspace import Workspace
from forgeml.demo.training import stage
from forgeml.registry import load_model

from .conftest import make_frame


def test_demo_training_stage(ws: Workspace) -> None:
    frame = make_frame(400, seed=2)
    frame["region"] = np.where(frame["d"] > 0.3, "east", "west")
    state = {
        "train": ws.datasets.create("loans-train", frame.iloc[:300].reset_index(drop=True)),
        "validation": ws.datasets.create("loans-validation", frame.iloc[300:].reset_index(drop=True)),
        "target": "y",
        "feature_columns": ["a", "b", "c", "region"],
        "recipe": {"steps": [{"type": "encode", "method": "onehot"}]},
        "summary": {},
    }
    said: list[str] = []
    stage(ws, state, said.append)
    job = ws.training.get(state["best_training_job"])
    assert job.status == "Completed" and "validation auc" in said[0]
    assert state["model_artifact"] == ws.training.model_artifact(job.name)
    model = load_model(state["model_dir"])
    assert model.manifest.feature_names == ["a", "b", "c", "region"] and model.manifest.recipe_file
    assert len(model.predict(ws.datasets.read("loans-validation"))) == 100
    assert state["summary"]["training"]["validation"]["validation:auc"] > 0.7
