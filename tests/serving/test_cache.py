"""The multi-model cache: load on first use, least-recently-used eviction under a budget."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from forgeml.errors import ValidationError
from forgeml.serving._cache import ModelCache


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_lru_eviction_under_budget(model_folder: Path) -> None:
    sizes = {n: _size(model_folder / n) for n in ("tree-2", "tree-4", "tree-6")}
    budget = sizes["tree-2"] + sizes["tree-4"] + sizes["tree-6"] - 1  # all three never fit
    cache = ModelCache(model_folder, budget)
    try:
        a, waited, loaded = cache.get("tree-2")
        assert waited > 0 and loaded and cache.loaded() == ["tree-2"]
        cache.get("tree-4")
        assert cache.get("tree-2")[0] is a  # a hit, and tree-2 becomes most recent
        cache.get("tree-6")  # evicts the least recently used: tree-4
        assert cache.loaded() == ["tree-2", "tree-6"]
        assert cache.used_bytes == sizes["tree-2"] + sizes["tree-6"] <= budget
        assert (cache.hits, cache.misses, cache.evictions) == (1, 3, 1)
        import pandas as pd

        from forgeml.registry.package import load_model

        reloaded, _, loaded = cache.get("tree-4")
        assert loaded and cache.loaded() == ["tree-6", "tree-4"]  # tree-2 was least recently used
        direct = load_model(model_folder / "tree-4").predict(pd.DataFrame({"x1": [0.1], "x2": [3]}))
        assert reloaded.predict([[0.1, 3.0]])[0]["prediction"] == pytest.approx(direct["prediction"][0])
    finally:
        cache.close()


def test_disabled_cache_unloads_after_each_call(model_folder: Path) -> None:
    cache = ModelCache(model_folder, 10**9, enabled=False)
    first, _, _ = cache.get("tree-2")
    second, _, _ = cache.get("tree-2")
    assert cache.loaded() == [] and first is not second and cache.misses == 2
    cache.close()


def test_tar_gz_targets_and_bad_targets(model_folder: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    with tarfile.open(root / "packed.tar.gz", "w:gz") as tar:
        tar.add(model_folder / "tree-4", arcname="tree-4")
    shutil.copytree(model_folder / "tree-2", root / "plain")
    (root / "junk").mkdir()
    cache = ModelCache(root, 10**9)
    try:
        packed, _, _ = cache.get("packed.tar.gz")
        assert packed.manifest.task == "regression"
        for bad in ("../plain", "/etc", "missing", ""):
            with pytest.raises(ValidationError):
                cache.get(bad)
        with pytest.raises(ValidationError, match="not a model package"):
            cache.get("junk")
        with pytest.raises(ValidationError, match="more than the cache budget"):
            ModelCache(root, 10).get("plain")
    finally:
        cache.close()


def test_concurrent_first_calls_load_once(model_folder: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cache = ModelCache(model_folder, 10**9)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cache.get("tree-6"), range(8)))
    assert len({id(r[0]) for r in results}) == 1
    assert sum(r[2] for r in results) == 1 and cache.misses == 1
    cache.close()
