"""RegistryService: versions, approval rules, aliases, sources, lineage and events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import (
    ConflictError,
    CorruptArtifactError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from tests.registry._models import frame, hgb_package


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    return hgb_package(tmp_path / "pkg")


def test_register_makes_immutable_integer_versions_with_lineage_and_events(ws: Workspace, pkg: Path) -> None:
    v1 = ws.registry.register("loans", pkg, description="first", metadata={"team": "risk"})
    v2 = ws.registry.register("loans", pkg)
    assert (v1.ref, v2.ref) == ("model/loans:1", "model/loans:2")
    assert v1.status == "PendingManualApproval"
    assert v1.spec["package"] == v2.spec["package"]  # same bytes, same digest
    assert v1.spec["task"] == "binary" and v1.spec["metrics"] == {"auc": 0.9}
    assert [r.version for r in ws.registry.versions("loans")] == [2, 1]
    assert ws.registry.get("loans").version == 2
    assert ws.registry.get("loans", 1).data["metadata"] == {"team": "risk"}
    upstream = ws.lineage.upstream("model/loans:1").refs()
    assert f"artifact/{v1.spec['package']}" in upstream
    types = [e.type for e in ws.registry.events("loans", 1)]
    assert types == ["Created", "ModelPackageStateChange"]
    assert ws.registry.get_group("loans").ref == "model-package-group/loans:1"


def test_loaded_registered_model_predicts_like_the_package(ws: Workspace, pkg: Path) -> None:
    from forgeml.registry import load_model

    ws.registry.register("loans", pkg)
    X, _ = frame(n=20, seed=9)
    got = ws.registry.load("loans", 1).predict(X)
    np.testing.assert_array_equal(got["score"].to_numpy(), load_model(pkg).predict(X)["score"].to_numpy())
    folder = ws.registry.download("loans", 1, ws.home / "dl")
    assert (folder / "forgeml-model.json").is_file()


@pytest.mark.parametrize(
    ("path", "legal"),
    [
        (["Approved"], True),
        (["Rejected"], True),
        (["Approved", "Rejected"], True),
        (["Rejected", "Approved"], False),
        (["Rejected", "PendingManualApproval"], False),
        (["Approved", "Approved"], False),
        (["Approved", "PendingManualApproval"], False),
        (["PendingManualApproval"], False),
    ],
)
def test_approval_transitions(ws: Workspace, pkg: Path, path: list[str], legal: bool) -> None:
    ws.registry.register("loans", pkg)
    *ok_steps, last = path
    for status in ok_steps:
        ws.registry.set_approval("loans", 1, status, by="ana", reason="checked")
    if legal:
        record = ws.registry.set_approval("loans", 1, last, by="bo", reason="final")
        assert record.status == last
        assert record.data["approval"]["by"] == "bo" and record.data["approval"]["reason"] == "final"
        assert [h["status"] for h in record.data["approval_history"]] == ["PendingManualApproval", *path]
    else:
        before = ws.registry.get("loans", 1)
        with pytest.raises(InvalidTransitionError, match=r"model/loans:1 cannot go from"):
            ws.registry.set_approval("loans", 1, last)
        assert ws.registry.get("loans", 1).status == before.status


def test_unknown_approval_status_is_a_validation_error(ws: Workspace, pkg: Path) -> None:
    ws.registry.register("loans", pkg)
    with pytest.raises(ValidationError, match="unknown approval status 'Maybe'"):
        ws.registry.set_approval("loans", 1, "Maybe")


def test_approval_emits_status_changed_and_detail_events(ws: Workspace, pkg: Path) -> None:
    ws.registry.register("loans", pkg)
    ws.registry.approve("loans", 1, by="ana", reason="AUC ok")
    events = ws.registry.events("loans", 1)
    changed = [e for e in events if e.type == "StatusChanged"]
    assert changed[-1].data == {"from": "PendingManualApproval", "to": "Approved"}
    detail = [e for e in events if e.type == "ModelPackageStateChange"][-1].data
    assert (detail["change"], detail["by"], detail["reason"]) == ("approval", "ana", "AUC ok")
    assert ws.registry.get("loans", "approved").version == 1


def test_aliases_resolve_move_and_drop_on_rejection(ws: Workspace, pkg: Path) -> None:
    ws.registry.register("loans", pkg)
    ws.registry.register("loans", pkg)
    assert ws.registry.set_alias("loans", "champion", 1) == {"champion": 1}
    assert ws.registry.get("loans", "champion").version == 1
    ws.registry.set_alias("loans", "champion", 2)
    ws.registry.set_alias("loans", "challenger", "1")
    assert ws.registry.aliases("loans") == {"champion": 2, "challenger": 1}
    assert ws.registry.describe("loans", 2)["aliases"] == ["champion"]
    ws.registry.reject("loans", 2, reason="bias")
    assert ws.registry.aliases("loans") == {"challenger": 1}
    with pytest.raises(NotFoundError, match=r"unknown alias 'champion' of model 'loans' \(aliases: challenger\)"):
        ws.registry.load("loans", "champion")
    with pytest.raises(InvalidTransitionError, match="Rejected"):
        ws.registry.set_alias("loans", "champion", 2)
    for bad in ("latest", "7", "bad alias", ""):
        with pytest.raises(ValidationError, match="invalid alias"):
            ws.registry.set_alias("loans", bad, 1)
    assert ws.registry.remove_alias("loans", "challenger") == {}
    with pytest.raises(NotFoundError):
        ws.registry.remove_alias("loans", "challenger")


def test_unknown_group_version_and_alias_are_clear_errors(ws: Workspace, pkg: Path) -> None:
    with pytest.raises(NotFoundError, match="model 'nope' does not exist"):
        ws.registry.get("nope", 1)
    with pytest.raises(NotFoundError, match="group 'nope' does not exist"):
        ws.registry.versions("nope")
    ws.registry.register("loans", pkg)
    with pytest.raises(NotFoundError, match=r"model 'loans' has no version 9 \(latest is 1\)"):
        ws.registry.get("loans", 9)
    with pytest.raises(NotFoundError, match=r"unknown alias 'gold' of model 'loans' \(no aliases"):
        ws.registry.get("loans", "gold")
    with pytest.raises(NotFoundError, match="no Approved version"):
        ws.registry.get("loans", "approved")


def test_register_refuses_bad_sources(ws: Workspace, pkg: Path, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        ws.registry.register("loans", pkg, artifact="0" * 64)
    with pytest.raises(ValidationError, match="exactly one"):
        ws.registry.register("loans")
    with pytest.raises(NotFoundError, match="does not exist"):
        ws.registry.register("loans", tmp_path / "missing")
    with pytest.raises(ValidationError, match="invalid model package group name"):
        ws.registry.register("bad name!", pkg)
    (pkg / "model.joblib").write_bytes(b"garbage")
    with pytest.raises(ValidationError, match="corrupted"):
        ws.registry.register("loans", pkg)
    assert ws.registry.list_groups() == []  # nothing half-written


def test_register_from_artifact_digest(ws: Workspace, pkg: Path) -> None:
    art = ws.artifacts.put_dir(pkg)
    record = ws.registry.register("loans", artifact=f"artifact/{art.digest}")
    assert record.spec["source"] == {"kind": "artifact", "value": art.digest}
    other = ws.artifacts.put_bytes(b"not a folder")
    with pytest.raises(ValidationError, match="not a model package folder"):
        ws.registry.register("loans", artifact=other.digest)
    with pytest.raises(NotFoundError):
        ws.registry.register("loans", artifact="a" * 64)


def test_register_from_a_training_job(ws: Workspace) -> None:
    job = ws.jobs.submit("training", "tests.registry._models:train_job", {"seed": 1})
    ws.jobs.wait(job.name, timeout=120)
    record = ws.registry.register("loans", training_job=job.name)
    assert record.spec["source"] == {"kind": "training_job", "value": job.name}
    assert f"job/{job.name}" in ws.lineage.upstream(record.ref).refs()
    with pytest.raises(NotFoundError):
        ws.registry.register("loans", training_job="no-such-job")


def test_register_from_an_unfinished_job_is_refused(ws: Workspace) -> None:
    job = ws.jobs.submit("training", "forgeml.testing.jobfuncs:sleep", {"seconds": 30})
    try:
        with pytest.raises(ConflictError, match="only a Completed job"):
            ws.registry.register("loans", training_job=job.name)
    finally:
        ws.jobs.stop(job.name, wait=True, timeout=30)


def test_metadata_and_model_card_change_data_not_the_package(ws: Workspace, pkg: Path) -> None:
    v = ws.registry.register("loans", pkg, model_card={"intended_use": "demo"})
    ws.registry.update_metadata("loans", 1, {"owner": "risk"})
    ws.registry.update_metadata("loans", 1, {"ticket": "ML-7"})
    card = {"intended_use": "credit pre-screening", "risk_rating": "medium"}
    after = ws.registry.attach_model_card("loans", 1, card)
    assert after.data["metadata"] == {"owner": "risk", "ticket": "ML-7"}
    assert after.data["model_card"] == card
    assert after.spec == v.spec
    changes = [e.data["change"] for e in ws.registry.events("loans", 1) if e.type == "ModelPackageStateChange"]
    assert changes == ["registered", "metadata", "metadata", "model-card"]


def test_corrupted_artifact_is_detected_on_download(ws: Workspace, pkg: Path) -> None:
    record = ws.registry.register("loans", pkg)
    manifest = ws.artifacts.read_json(record.spec["package"])
    digest = manifest["files"]["model.joblib"]["digest"]
    stored = Path(ws.artifacts.root) / "sha256" / digest[:2] / digest
    stored.write_bytes(b"tampered")
    with pytest.raises(CorruptArtifactError, match=digest):
        ws.registry.load("loans", 1)


def test_registry_on_postgresql(postgres_url: str, tmp_path: Path, pkg: Path) -> None:
    from forgeml.settings import load_settings

    with Workspace(load_settings(home=str(tmp_path / "pg"), database_url=postgres_url)) as pws:
        pws.registry.register("loans", pkg)
        pws.registry.register("loans", pkg)
        pws.registry.approve("loans", 2, by="ana")
        pws.registry.set_alias("loans", "champion", 2)
        assert pws.registry.get("loans", "champion").status == "Approved"
        with pytest.raises(InvalidTransitionError):
            pws.registry.approve("loans", 2)
