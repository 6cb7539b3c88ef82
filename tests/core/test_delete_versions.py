"""Deleting dataset and model versions: SDK, CLI and REST; refused while in use; tombstones keep lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.metadata import RETIRED
from forgeml.core.workspace import Workspace
from forgeml.errors import ConflictError, NotFoundError, ValidationError
from tests.cli_runner import run_cli as forgeml
from tests.registry._models import hgb_package
from tests.registry.conftest import _one_thread  # noqa: F401  (autouse: OpenMP pinned to 1 thread)


def _versions(ws: Workspace, n: int = 3) -> None:
    for i in range(n):
        ws.datasets.create("loans", pd.DataFrame({"a": range(i + 1)}))


def test_dataset_delete_keeps_a_tombstone_and_never_reuses_the_number(ws: Workspace) -> None:
    _versions(ws)
    v2 = ws.datasets.get("loans:2")
    ws.lineage.record("dataset/loans:2", "job/somewhere", "input")
    with pytest.raises(ValidationError, match=r"name the version to delete, e.g. loans:1"):
        ws.datasets.delete("loans")
    gone = ws.datasets.delete("loans:2", reason="bad rows", by="ana")
    assert gone.status == RETIRED and gone.data["deleted"]["by"] == "ana" and gone.data["deleted"]["reason"] == "bad rows"
    assert [r.version for r in ws.datasets.versions("loans")] == [3, 1]
    with pytest.raises(NotFoundError, match="version 2 was deleted"):
        ws.datasets.get("loans:2")
    assert v2.data["artifact"] in {a.digest for a in ws.metadata.list_artifacts(unreferenced_only=True)}
    assert "job/somewhere" in ws.lineage.downstream("dataset/loans:2").refs()  # lineage kept
    ws.datasets.delete("loans", 3)
    assert ws.datasets.get("loans").version == 1  # @latest moves back
    assert ws.datasets.create("loans", pd.DataFrame({"a": [9]}), mode="append").version == 4  # appended to v1, numbered after 3
    assert ws.datasets.read("loans").a.tolist() == [0, 9]
    with pytest.raises(NotFoundError):
        ws.datasets.delete("loans:2")


def test_dataset_in_use_by_a_running_job_is_refused_unchanged(ws: Workspace) -> None:
    _versions(ws, 2)
    job = ws.jobs.submit("processing", "forgeml.testing.jobfuncs:sleep", {"seconds": 60}, inputs=["dataset/loans:1"])
    latest = ws.jobs.submit("processing", "forgeml.testing.jobfuncs:sleep", {"seconds": 60, "channels": {"train": "dataset/loans"}})
    try:
        with pytest.raises(ConflictError, match=rf"cannot delete dataset/loans:1: job/{job.name} \((Pending|InProgress)\) uses it"):
            ws.datasets.delete("loans:1")
        with pytest.raises(ConflictError, match=rf"job/{latest.name} .* uses it"):  # "dataset/loans" reads the latest
            ws.datasets.delete("loans:2")
        assert [r.version for r in ws.datasets.versions("loans")] == [2, 1]  # nothing changed
    finally:
        ws.jobs.stop(job.name, wait=True)
        ws.jobs.stop(latest.name, wait=True)
    assert ws.datasets.delete("loans:1").status == RETIRED


def test_model_version_delete_refused_for_alias_and_serving_endpoint(ws: Workspace, tmp_path: Path) -> None:
    pkg = hgb_package(tmp_path / "pkg", max_iter=5)
    for _ in range(3):
        ws.registry.register("loans", pkg)
    ws.registry.set_alias("loans", "champion", 1)
    with pytest.raises(ConflictError, match=r"cannot delete model/loans:1: alias 'champion' points to it"):
        ws.registry.delete("loans:1")
    ws.registry.remove_alias("loans", "champion")
    assert ws.registry.delete("loans@latest").version == 3
    assert ws.registry.get("loans").version == 2 and [v.version for v in ws.registry.versions("loans")] == [2, 1]
    ws.endpoints.deploy("ep", "loans:2")
    try:
        with pytest.raises(ConflictError, match=r"cannot delete model/loans:2: endpoint/ep:1 \(InService\) uses it"):
            ws.registry.delete("loans", 2)
    finally:
        ws.endpoints.delete("ep")
    ws.registry.delete("loans", 2)
    assert ws.registry.register("loans", pkg).version == 4  # never 2 or 3 again
    with pytest.raises(NotFoundError, match="version 3 was deleted"):
        ws.registry.get("loans:3")


def test_cli_and_rest_delete(ws: Workspace, tmp_path: Path) -> None:
    _versions(ws, 2)
    pkg = hgb_package(tmp_path / "pkg", max_iter=5)
    ws.registry.register("loans", pkg)
    ws.registry.register("loans", pkg)
    ws.registry.set_alias("loans", "champion", 1)
    with TestClient(create_app(ws)) as client:
        assert client.delete("/datasets/loans/versions/9").status_code == 404
        done = client.delete("/datasets/loans/versions/1", params={"reason": "gdpr", "by": "ana"})
        assert done.status_code == 200 and done.json()["status"] == RETIRED and done.json()["data"]["deleted"]["by"] == "ana"
        busy = client.delete("/model-package-groups/loans/versions/1")
        assert busy.status_code == 409 and "alias 'champion' points to it" in busy.json()["message"]
        assert client.delete("/model-package-groups/loans/versions/2").status_code == 200
        assert client.delete("/model-package-groups/loans/versions/2").status_code == 404
    ws.close()
    out = forgeml(ws.home, "data", "delete", "loans:2", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == RETIRED
    bare = forgeml(ws.home, "data", "delete", "loans")
    assert bare.returncode == 2 and "name the version to delete" in bare.stderr
    busy = forgeml(ws.home, "models", "delete", "loans:1")
    assert busy.returncode == 6 and "alias 'champion' points to it" in busy.stderr and "Traceback" not in busy.stderr
    forgeml(ws.home, "models", "alias", "loans:1", "champion", "--delete")
    ok = forgeml(ws.home, "models", "delete", "loans", "1", "--reason", "superseded")
    assert ok.returncode == 0 and "deleted model/loans:1" in ok.stdout, ok.stderr
    assert json.loads(forgeml(ws.home, "data", "ls", "--json").stdout) == []
