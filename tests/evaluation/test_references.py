"""Evaluation and Clarify take registered models by reference on every face, like transform and endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.errors import CorruptArtifactError, NotFoundError, ValidationError
from tests.cli_runner import run_cli
from tests.evaluation.helpers import loans_frame, save_binary


@pytest.fixture
def cancer(ws: Workspace, tmp_path: Path) -> Workspace:
    frame = loans_frame(160, seed=3)[["income", "debt", "black", "approve"]]
    ws.datasets.create("cancer", frame)
    ws.registry.register("cancer", save_binary(tmp_path / "pkg", frame, kind="logistic"))
    ws.registry.set_alias("cancer", "champion", 1)
    return ws


def test_sdk_takes_every_model_form_and_records_the_version(cancer: Workspace) -> None:
    for form in ("cancer", "cancer:1", "cancer@champion", "model/cancer:1", "model/cancer@latest"):
        record = cancer.evaluation.evaluate(form, "dataset/cancer:1", name="cancer")
        assert record.spec["model_ref"] == "model/cancer:1" and record.spec["dataset"] == "dataset/cancer:1"
    upstream = cancer.lineage.upstream(record.ref).refs()
    assert {"model/cancer:1", "dataset/cancer:1"} <= upstream
    explanation = cancer.clarify.explain("cancer@champion", "cancer", max_rows=10, top_k_features=0)
    assert explanation.spec["model_ref"] == "model/cancer:1"
    bias = cancer.clarify.bias("cancer", label="approve", facets=["black=1"], model="model/cancer:1")
    assert bias.spec["model"] == "model/cancer:1"


def test_model_references_fail_clearly(cancer: Workspace, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"^unknown alias 'champ' of model 'cancer' \(aliases: champion\)$"):
        cancer.evaluation.evaluate("cancer@champ", "cancer")
    with pytest.raises(ValidationError, match="'dataset/cancer:1' is a dataset reference, but a model is expected here"):
        cancer.evaluation.evaluate("dataset/cancer:1", "cancer")
    with pytest.raises(ValidationError, match="'model/cancer:1' is a model reference, but a dataset is expected here"):
        cancer.evaluation.evaluate("cancer:1", "model/cancer:1")
    with pytest.raises(NotFoundError, match=r"model package folder \./nowhere does not exist"):
        cancer.evaluation.evaluate("./nowhere", "cancer")


def test_a_registered_model_is_checked_against_the_registry_digests(cancer: Workspace, tmp_path: Path) -> None:
    """Evaluation and Clarify load a referenced version through the registry (h11-registry's
    digests), so a pickle swapped into the workspace's cached copy is refused, never run."""
    from tests.registry._models import swap_pickle

    cancer.evaluation.evaluate("cancer:1", "cancer")  # the cached copy now exists
    marker = tmp_path / "executed.txt"
    swap_pickle(cancer.home / "cache" / "models" / cancer.registry.get("cancer", 1).spec["package"], marker)
    for call in (lambda: cancer.evaluation.evaluate("cancer:1", "cancer"),
                 lambda: cancer.clarify.explain("model/cancer@champion", "cancer", max_rows=10, top_k_features=0),
                 lambda: cancer.clarify.bias("cancer", label="approve", facets=["black=1"], model="cancer")):  # fmt: skip
        with pytest.raises(CorruptArtifactError, match=r"model\.joblib"):
            call()
    assert not marker.exists()


def test_cli_evaluate_and_explain_take_model_references(cancer: Workspace) -> None:
    """The issue's case: `evaluate run` and `clarify explain` refused `model/cancer:1` (they wanted a folder)."""
    out = run_cli(cancer.home, "evaluate", "run", "model/cancer:1", "--data", "cancer:1", "--json")
    assert out.returncode == 0, out.stderr
    out = run_cli(cancer.home, "clarify", "explain", "model/cancer:1", "--data", "cancer", "--rows", "10", "--top-k", "0", "--json")
    assert out.returncode == 0, out.stderr
    out = run_cli(cancer.home, "evaluate", "cv", "cancer@champion", "--data", "dataset/cancer", "--folds", "2", "--json")
    assert out.returncode == 0, out.stderr
    bad = run_cli(cancer.home, "evaluate", "run", "cancer:9", "--data", "cancer")
    assert bad.returncode == 4 and bad.stderr == "error: model 'cancer' has no version 9 (latest is 1)\n"


def test_rest_bodies_take_a_model_reference(cancer: Workspace) -> None:
    with TestClient(create_app(cancer)) as client:
        made = client.post("/evaluations", json={"model": "cancer@champion", "dataset": "cancer:1"})
        assert made.status_code == 201 and made.json()["spec"]["model_ref"] == "model/cancer:1"
        explained = client.post("/clarify/explanations", json={"model": "model/cancer:1", "dataset": "cancer", "max_rows": 10, "top_k_features": 0})
        assert explained.status_code == 201, explained.text
        biased = client.post("/clarify/bias", json={"model": "cancer", "dataset": "cancer", "label": "approve", "facets": ["black=1"]})
        assert biased.status_code == 201, biased.text
        both = client.post("/evaluations", json={"model": "cancer", "model_dir": "/x", "dataset": "cancer"})
        assert both.status_code == 400 and both.json()["message"] == "give either 'model' or 'model_dir', not both"
        neither = client.post("/evaluations", json={"dataset": "cancer"})
        assert neither.status_code == 400 and "give 'model'" in neither.json()["message"]
        unknown = client.post("/evaluations", json={"model": "cancer:5", "dataset": "cancer"})
        assert unknown.status_code == 404 and unknown.json()["message"] == "model 'cancer' has no version 5 (latest is 1)"
