"""Untrusted packages: the registry's own digests checked on every load, and ONNX-only loading.

A pickle that writes a marker file when it is unpickled stands in for a malicious package: every
refusal below also asserts the marker was never written, i.e. nothing was executed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.errors import CorruptArtifactError, ForbiddenError, ValidationError
from forgeml.registry import load_model, save_model
from forgeml.registry.package import MANIFEST
from forgeml.serving._runner import ModelRunner
from forgeml.settings import Settings
from tests.cli_runner import run_cli
from tests.registry._models import FEATURES, WritesMarker, frame, hgb_package, inputs, swap_pickle


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "executed.txt"
    yield path
    assert not path.exists(), "a package's pickle was executed"


def _cache(ws: Workspace, group: str, version: int) -> Path:
    return ws.home / "cache" / "models" / ws.registry.get(group, version).spec["package"]


def _evil_package(path: Path, marker: Path) -> Path:
    """A package whose model is a pickle that writes ``marker`` when loaded (hashes consistent)."""
    import joblib

    path.mkdir(parents=True)
    joblib.dump(WritesMarker(marker), path / "model.joblib")
    from forgeml.registry.package import ModelManifest, write_manifest

    write_manifest(path, ModelManifest(flavor="sklearn", task="binary", inputs=inputs()))
    return path


# the registry's own digests ------------------------------------------------------------------
def test_registration_records_forgeml_digests_of_every_file(ws: Workspace, tmp_path: Path) -> None:
    pkg = hgb_package(tmp_path / "pkg")
    record = ws.registry.register("loans", pkg)
    files = record.spec["files"]
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in pkg.iterdir()}
    assert files == on_disk and MANIFEST in files and "model.joblib" in files
    assert "executes code" in record.spec["loading"] and "trusted sources" in record.spec["loading"]
    assert "executes code" in json.loads((pkg / MANIFEST).read_text())["loading"]
    compiled = ws.registry.compile("loans", 1, holdout=frame(n=40, seed=3)[0])
    assert set(compiled.spec["files"]) == {MANIFEST, "model.onnx"}
    assert "runs no Python code" in compiled.spec["loading"]


@pytest.mark.parametrize("rewrite_manifest", [True, False], ids=["manifest-rewritten-to-match", "manifest-left"])
def test_a_pickle_swapped_in_the_local_copy_after_registration_is_refused_not_executed(
    ws: Workspace, tmp_path: Path, marker: Path, rewrite_manifest: bool
) -> None:
    ws.registry.register("loans", hgb_package(tmp_path / "pkg"))
    X = frame(n=20, seed=1)[0]
    ws.registry.load("loans", 1).predict(X)  # the local copy now exists
    swap_pickle(_cache(ws, "loans", 1), marker, rewrite_manifest=rewrite_manifest)
    # the package's own manifest agrees with the swapped bytes; the registry's digests do not
    with pytest.raises(CorruptArtifactError, match=r"model/loans:1 .* was changed after registration: .*model\.joblib does not match"):
        ws.registry.load("loans", 1)
    with pytest.raises(CorruptArtifactError, match=r"model\.joblib"):
        ws.registry.download("loans", 1)
    with pytest.raises(CorruptArtifactError, match=r"model\.joblib"):
        ws.registry.compile("loans", 1, holdout=X)
    with pytest.raises(CorruptArtifactError, match=r"model\.joblib"):
        ws.endpoints.deploy("loans", "loans:1")
    assert ws.endpoints.list() == []
    with pytest.raises(CorruptArtifactError, match=r"model\.joblib"):
        ws.transforms.create("loans:1", dataset=ws.datasets.create("rows", X).name)
    assert ws.transforms.list() == []


def test_a_pickle_swapped_in_the_artifact_store_is_refused_not_executed(ws: Workspace, tmp_path: Path, marker: Path) -> None:
    record = ws.registry.register("loans", hgb_package(tmp_path / "pkg"))
    digest = ws.artifacts.read_json(record.spec["package"])["files"]["model.joblib"]["digest"]
    stored = Path(ws.artifacts.root) / "sha256" / digest[:2] / digest
    evil = _evil_package(tmp_path / "evil", marker)
    stored.write_bytes((evil / "model.joblib").read_bytes())
    with pytest.raises(CorruptArtifactError, match=digest):
        ws.registry.load("loans", 1)


def test_an_endpoint_worker_verifies_its_package_on_every_load(ws: Workspace, tmp_path: Path, marker: Path) -> None:
    from forgeml.serving._config import VariantConfig
    from forgeml.serving._resolve import resolve_variant

    pkg = hgb_package(tmp_path / "pkg")
    ws.registry.register("loans", pkg)
    for source in ("loans:1", str(pkg)):  # a registry version and a package folder
        models = tmp_path / f"models-{len(source)}"
        models.mkdir()
        entry = resolve_variant(ws, VariantConfig(name="v", model=source), models)
        runner = ModelRunner(entry["model_path"], digests=entry["digests"], origin=entry["origin"])  # what a worker does
        assert len(runner.predict(frame(n=3)[0].to_numpy().tolist())) == 3
        swap_pickle(Path(entry["model_path"]), marker)
        with pytest.raises(CorruptArtifactError, match=r"model\.joblib does not match"):  # a restarted worker
            ModelRunner(entry["model_path"], digests=entry["digests"], origin=entry["origin"])


def test_registering_a_training_job_reads_the_stored_artifact_not_a_local_copy(ws: Workspace, marker: Path) -> None:
    X, y = frame(n=120)
    rows = ws.datasets.create("rows", X.assign(label=y))
    job = ws.training.create(algorithm="random-forest", channels={"train": rows.ref}, target="label",
                             hyperparameters={"num_trees": 5}, wait=True)  # fmt: skip
    local = ws.training.model_dir(job.name)  # the local copy the training service hands out
    swap_pickle(local, marker)
    record = ws.registry.register("loans", training_job=job.name)
    assert record.spec["files"]["model.joblib"] != hashlib.sha256((local / "model.joblib").read_bytes()).hexdigest()
    assert record.spec["package"] == ws.training.model_artifact(job.name)
    # the training service's copy is also the registry's cache: refused, with the way out
    with pytest.raises(CorruptArtifactError, match=r"a cached copy: delete .* to fetch the registered package again"):
        ws.registry.load("loans", 1)
    import shutil

    shutil.rmtree(local)
    assert len(ws.registry.load("loans", 1).predict(X)) == 120  # the trained forest, not the swapped pickle


def test_a_folder_loaded_by_path_is_checked_against_its_own_manifest(tmp_path: Path, marker: Path) -> None:
    pkg = hgb_package(tmp_path / "pkg")
    swap_pickle(pkg, marker, rewrite_manifest=False)
    with pytest.raises(ValidationError, match=r"model\.joblib does not match its sha256"):
        load_model(pkg)


# trusted=False -------------------------------------------------------------------------------
@pytest.fixture
def compiled(ws: Workspace, tmp_path: Path) -> Workspace:
    """``loans:1`` a pickle (HistGradientBoosting), ``loans:2`` its ONNX compilation."""
    ws.registry.register("loans", hgb_package(tmp_path / "pkg"))
    ws.registry.compile("loans", 1, holdout=frame(n=100, seed=8)[0])
    return ws


def test_untrusted_load_serves_a_compiled_package_with_identical_predictions(compiled: Workspace) -> None:
    ws = compiled
    X = frame(n=60, seed=5)[0]
    untrusted = ws.registry.load("loans", 2, trusted=False)
    pd.testing.assert_frame_equal(untrusted.predict(X), ws.registry.load("loans", 2).predict(X))
    np.testing.assert_allclose(untrusted.predict(X)["score"], ws.registry.load("loans", 1).predict(X)["score"], atol=1e-4)


def test_untrusted_load_refuses_a_pickle_only_package_without_unpickling(ws: Workspace, tmp_path: Path, marker: Path) -> None:
    evil = _evil_package(tmp_path / "evil", marker)
    ws.registry.register("evil", evil)
    for load in (lambda: ws.registry.load("evil", 1, trusted=False), lambda: load_model(evil, trusted=False)):
        with pytest.raises(ForbiddenError, match=r"no ONNX model: its model\.joblib is a pickle.*compile it first"):
            load()


def test_untrusted_load_refuses_a_recipe_that_imports_code(tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from forgeml.data.recipes import Recipe
    from forgeml.registry import compile_package

    X, y = frame(n=200)
    fitted = Recipe([{"type": "custom", "function": "tests.registry._models:identity"}]).fit(X)
    clf = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    save_model(clf, tmp_path / "src", task="binary", inputs=inputs(), recipe=fitted.to_dict())
    compile_package(tmp_path / "src", tmp_path / "onnx", X)
    assert len(load_model(tmp_path / "onnx").predict(X)) == 200  # trusted: the recipe imports its function
    with pytest.raises(ForbiddenError, match=r"recipe has a 'custom' step that imports 'tests\.registry\._models:identity'"):
        load_model(tmp_path / "onnx", trusted=False)


def test_untrusted_endpoints_and_transforms_serve_onnx_and_refuse_pickles(
    compiled: Workspace, tmp_path: Path, marker: Path
) -> None:
    ws = compiled
    X = frame(n=8, seed=2)[0]
    expected = ws.registry.load("loans", 2).predict(X)["score"].to_numpy()
    ep = ws.endpoints.create("onnx-only", {"variants": [{"model": "loans:2"}], "trusted": False})
    try:
        assert ep.data["variants"][0]["trusted"] is False
        body = "\n".join(",".join(str(v) for v in row) for row in X[FEATURES].to_numpy().tolist())
        out = ws.endpoints.invoke("onnx-only", body, content_type="text/csv", accept="application/json")
        got = np.asarray([p["score"] for p in json.loads(out.body)["predictions"]])
        np.testing.assert_array_equal(got, expected.astype(got.dtype))
    finally:
        ws.endpoints.delete("onnx-only")
    evil = _evil_package(tmp_path / "evil", marker)
    for model in ("loans:1", str(evil)):
        with pytest.raises(ForbiddenError, match="compile it first"):
            ws.endpoints.create("refused", {"variants": [{"model": model}], "trusted": False})
        with pytest.raises(ForbiddenError, match="compile it first"):
            ws.transforms.create(model, dataset=ws.datasets.create(f"rows-{len(model)}", X).name, trusted=False)
    assert ws.endpoints.list() == [] and ws.transforms.list() == []
    job = ws.transforms.create("loans:2", dataset=ws.datasets.create("rows", X).name, trusted=False, wait=True, timeout=120)
    assert job.status == "Completed" and ws.transforms.config(job.name).trusted is False


def test_the_setting_forces_onnx_only_loading_for_endpoints_and_transforms(
    settings: Settings, tmp_path: Path, marker: Path
) -> None:
    # the folder is in an allowed code root, so over REST it is the trust setting that refuses it
    ws = Workspace(settings.model_copy(update={"trusted_model_packages": False, "allowed_code_roots": [tmp_path]}))
    try:
        evil = _evil_package(tmp_path / "evil", marker)
        with pytest.raises(ForbiddenError, match="compile it first"):
            ws.endpoints.create("refused", {"variants": [{"model": str(evil)}], "trusted": True})
        with pytest.raises(ForbiddenError, match="compile it first"):
            ws.transforms.create(str(evil), dataset=ws.datasets.create("rows", frame(n=5)[0]).name)
        with TestClient(create_app(ws)) as api:
            reply = api.post("/endpoints", json={"name": "refused", "variants": [{"model": str(evil)}]})
        assert reply.status_code == 403 and "compile it first" in reply.json()["message"]
        assert ws.endpoints.list() == []
    finally:
        ws.close()


def test_untrusted_cli_flag_and_models_show(compiled: Workspace, tmp_path: Path) -> None:
    home = compiled.home
    out = run_cli(home, "endpoints", "create", "refused", "--model", "loans:1", "--untrusted")
    assert out.returncode == 11 and "compile it first" in out.stderr and "Traceback" not in out.stderr
    out = run_cli(home, "transform", "create", "loans:1", "--dataset", compiled.datasets.create("rows", frame(n=5)[0]).name, "--untrusted")
    assert out.returncode == 11 and "compile it first" in out.stderr
    shown = run_cli(home, "models", "show", "loans", "1")
    assert shown.returncode == 0 and "executes code" in shown.stdout.replace("\n", " ")


def test_untrusted_multi_model_cache_loads_onnx_targets_and_refuses_pickles(compiled: Workspace, tmp_path: Path, marker: Path) -> None:
    from forgeml.serving._cache import ModelCache

    root = tmp_path / "models"
    root.mkdir()
    compiled.registry.download("loans", 2, root / "onnx")
    _evil_package(root / "evil", marker)
    cache = ModelCache(root, 10**9, trusted=False)
    try:
        runner, _, loaded = cache.get("onnx")
        assert loaded and len(runner.predict(frame(n=2)[0].to_numpy().tolist())) == 2
        with pytest.raises(ForbiddenError, match="compile it first"):
            cache.get("evil")
    finally:
        cache.close()
