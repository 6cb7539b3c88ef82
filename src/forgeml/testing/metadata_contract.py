"""Contract suite every :class:`~forgeml.core.metadata.MetadataStore` must pass.

Use it from a test module that defines a ``store`` fixture yielding a fresh, empty store::

    from forgeml.testing.metadata_contract import *  # noqa: F403

    @pytest.fixture(params=["sqlite", "postgresql"])
    def store(request): ...
"""

from __future__ import annotations

import pytest

from forgeml.core.metadata import MetadataStore
from forgeml.core.records import ArtifactRecord, EdgeRecord, JobRecord, ResourceRecord
from forgeml.errors import AlreadyExistsError, ConflictError, NotFoundError, ValidationError

__all__ = [
    "test_artifacts_refs_and_unreferenced",
    "test_create_and_get_resource",
    "test_create_resource_within_runs_in_its_transaction",
    "test_delete_resource",
    "test_duplicate_job_refused",
    "test_duplicate_resource_refused",
    "test_events_record_every_status_change",
    "test_find_artifacts_by_prefix",
    "test_job_add_refs_appends_once",
    "test_job_compare_and_set",
    "test_job_handle_update_merges",
    "test_job_list_filters",
    "test_lineage_edges_idempotent",
    "test_list_resources_latest_only",
    "test_metrics_series_and_latest",
    "test_missing_things_raise_not_found",
    "test_next_version_increments",
    "test_retire_resource_leaves_a_tombstone",
    "test_update_job_rejects_unknown_fields",
    "test_update_resource_merges_and_checks_status",
]


def _res(name: str = "loans", **kw: object) -> ResourceRecord:
    return ResourceRecord(kind="dataset", name=name, spec={"a": 1}, data={"rows": 3}, **kw)  # type: ignore[arg-type]


def _job(name: str = "j1", kind: str = "training", status: str = "Pending") -> JobRecord:
    return JobRecord(name=name, kind=kind, status=status, config={"x": [1, 2]}, entrypoint="m:f")


def test_create_and_get_resource(store: MetadataStore) -> None:
    created = store.create_resource(_res(tags={"team": "risk"}))
    got = store.get_resource("dataset", "loans", 1)
    assert got == created
    assert got.spec == {"a": 1} and got.data == {"rows": 3} and got.tags == {"team": "risk"}
    assert got.created_at > 0 and got.ref == "dataset/loans:1"


def test_create_resource_within_runs_in_its_transaction(store: MetadataStore) -> None:
    seen: list[int] = []

    def boom(_conn: object, new: ResourceRecord) -> None:
        seen.append(new.version)
        raise RuntimeError("refused inside the transaction")

    with pytest.raises(RuntimeError):
        store.create_resource(_res(), next_version=True, within=boom)
    assert seen == [1] and store.list_resources("dataset") == [] and store.list_events(resource="dataset/loans:1") == []
    created = store.create_resource(_res(), next_version=True, within=lambda _conn, new: seen.append(new.version))
    assert created.version == 1 and seen == [1, 1]


def test_next_version_increments(store: MetadataStore) -> None:
    versions = [store.create_resource(_res(), next_version=True).version for _ in range(3)]
    assert versions == [1, 2, 3]
    assert store.get_resource("dataset", "loans").version == 3


def test_duplicate_resource_refused(store: MetadataStore) -> None:
    store.create_resource(_res())
    with pytest.raises(AlreadyExistsError, match="loans"):
        store.create_resource(_res())
    assert len(store.list_resources("dataset")) == 1


def test_list_resources_latest_only(store: MetadataStore) -> None:
    for name in ("a", "b"):
        for _ in range(2):
            store.create_resource(_res(name), next_version=True)
    store.create_resource(ResourceRecord(kind="model", name="a"))
    latest = store.list_resources("dataset", latest_only=True)
    assert sorted((r.name, r.version) for r in latest) == [("a", 2), ("b", 2)]
    assert len(store.list_resources("dataset", name="a")) == 2


def test_update_resource_merges_and_checks_status(store: MetadataStore) -> None:
    store.create_resource(_res(status="Creating"))
    updated = store.update_resource("dataset", "loans", 1, status="Available", data={"bytes": 10})
    assert updated.status == "Available"
    assert updated.data == {"rows": 3, "bytes": 10}
    with pytest.raises(ConflictError, match="Available"):
        store.update_resource("dataset", "loans", 1, status="Deleting", expected_status=["Creating"])
    assert store.get_resource("dataset", "loans", 1).status == "Available"


def test_delete_resource(store: MetadataStore) -> None:
    store.create_resource(_res(), next_version=True)
    store.create_resource(_res(), next_version=True)
    assert store.delete_resource("dataset", "loans", 1) == 1
    assert store.delete_resource("dataset", "loans") == 1
    with pytest.raises(NotFoundError):
        store.get_resource("dataset", "loans")


def test_retire_resource_leaves_a_tombstone(store: MetadataStore) -> None:
    from forgeml.core.metadata import RETIRED

    for _ in range(3):
        store.create_resource(_res(), next_version=True)
    store.put_artifact(ArtifactRecord("d" * 64, 1), owner="dataset/loans:3")
    store.add_edges([EdgeRecord("dataset/loans:3", "job/j"), EdgeRecord(f"artifact/{'d' * 64}", "dataset/loans:3", "stored-as")])
    gone = store.retire_resource("dataset", "loans", 3, data={"deleted": {"by": "me"}})
    assert gone.status == RETIRED and gone.data["deleted"] == {"by": "me"} and gone.data["rows"] == 3
    assert store.get_resource("dataset", "loans").version == 2  # the latest live version
    with pytest.raises(NotFoundError, match="version 3 was deleted"):
        store.get_resource("dataset", "loans", 3)
    assert [r.version for r in store.list_resources("dataset", name="loans")] == [2, 1]
    assert [r.version for r in store.list_resources("dataset", latest_only=True)] == [2]
    assert [r.version for r in store.list_resources("dataset", status=RETIRED)] == [3]
    assert {a.digest for a in store.list_artifacts(unreferenced_only=True)} == {"d" * 64}  # released
    assert [e.type for e in store.list_events(resource="dataset/loans:3")][-1] == "Deleted"
    assert [e.dst for e in store.list_edges(src="dataset/loans:3")] == ["job/j"]  # lineage stays
    assert store.list_edges(dst="dataset/loans:3") == []  # but not the storage edge of the released data
    assert store.create_resource(_res(), next_version=True).version == 4  # the number is never reused
    with pytest.raises(NotFoundError):
        store.retire_resource("dataset", "loans", 3)
    for v in (1, 2, 4):
        store.retire_resource("dataset", "loans", v)
    assert store.list_resources("dataset", latest_only=True) == []
    with pytest.raises(NotFoundError, match="does not exist"):
        store.get_resource("dataset", "loans")


def test_missing_things_raise_not_found(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="'nope'"):
        store.get_resource("dataset", "nope")
    with pytest.raises(NotFoundError):
        store.get_job("nope")
    with pytest.raises(NotFoundError):
        store.get_artifact("0" * 64)
    with pytest.raises(NotFoundError):
        store.update_job("nope", status="Failed")


def test_duplicate_job_refused(store: MetadataStore) -> None:
    store.create_job(_job())
    with pytest.raises(AlreadyExistsError, match="j1"):
        store.create_job(_job())


def test_job_compare_and_set(store: MetadataStore) -> None:
    store.create_job(_job())
    moved = store.update_job("j1", expected_status=["Pending"], status="InProgress", secondary_status="Starting")
    assert moved.status == "InProgress" and moved.secondary_status == "Starting"
    with pytest.raises(ConflictError, match="InProgress"):
        store.update_job("j1", expected_status=["Pending"], status="Failed")
    assert store.get_job("j1").status == "InProgress"
    assert store.get_job("j1").config == {"x": [1, 2]}


def test_job_handle_update_merges(store: MetadataStore) -> None:
    store.create_job(_job())
    store.update_job("j1", handle_update={"a": 1})
    store.update_job("j1", handle_update={"b": 2})
    assert store.get_job("j1").handle == {"a": 1, "b": 2}


def test_job_add_refs_appends_once(store: MetadataStore) -> None:
    store.create_job(_job())
    store.update_job("j1", add_refs={"outputs": ["artifact/a", "artifact/b"]})
    store.update_job("j1", add_refs={"outputs": ["artifact/b", "artifact/c", "artifact/c"], "inputs": ["dataset/d:1"]})
    job = store.get_job("j1")
    assert job.outputs == ["artifact/a", "artifact/b", "artifact/c"] and job.inputs == ["dataset/d:1"]
    with pytest.raises(ValidationError, match="add_refs"):
        store.update_job("j1", add_refs={"config": ["x"]})


def test_update_job_rejects_unknown_fields(store: MetadataStore) -> None:
    store.create_job(_job())
    with pytest.raises(ValidationError, match="colour"):
        store.update_job("j1", colour="red")


def test_job_list_filters(store: MetadataStore) -> None:
    for i in range(6):
        store.create_job(_job(f"job-{i}", kind="training" if i % 2 else "processing"))
    store.update_job("job-1", status="InProgress")
    assert {j.name for j in store.list_jobs(kind="training")} == {"job-1", "job-3", "job-5"}
    assert [j.name for j in store.list_jobs(status=["InProgress"])] == ["job-1"]
    assert [j.name for j in store.list_jobs(name_contains="-4")] == ["job-4"]
    assert len(store.list_jobs(limit=2)) == 2
    assert [j.name for j in store.list_jobs(name_contains="%")] == []  # wildcards are literal


def test_events_record_every_status_change(store: MetadataStore) -> None:
    store.create_job(_job())
    store.update_job("j1", status="InProgress")
    store.update_job("j1", secondary_status="Training")
    store.update_job("j1", status="Completed")
    types = [(e.type, e.data.get("to")) for e in store.list_events(resource="job/j1")]
    assert types == [
        ("Created", None),
        ("StatusChanged", "InProgress"),
        ("SecondaryStatusChanged", "Training"),
        ("StatusChanged", "Completed"),
    ]
    first = store.list_events(resource="job/j1")[0].id
    assert all(e.id > first for e in store.list_events(after_id=first))
    custom = store.append_event("job/j1", "Note", {"k": "v"})
    assert store.list_events(after_id=custom.id - 1)[0].data == {"k": "v"}


def test_events_newest_and_since(store: MetadataStore) -> None:
    store.create_job(_job())
    for status in ("InProgress", "Completed"):
        store.update_job("j1", status=status)
    every = store.list_events(resource="job/j1")
    assert [e.id for e in store.list_events(resource="job/j1", limit=2)] == [e.id for e in every[:2]]
    newest = store.list_events(resource="job/j1", limit=2, newest=True)
    assert [e.id for e in newest] == [e.id for e in every[-2:]]  # the newest two, still oldest first
    assert store.list_events(resource="job/j1", since=every[-1].time) == [e for e in every if e.time >= every[-1].time]
    assert store.list_events(resource="job/j1", since=every[-1].time + 3600) == []


def test_artifacts_refs_and_unreferenced(store: MetadataStore) -> None:
    a, b, c = ("a" * 64, "b" * 64, "c" * 64)
    store.put_artifact(ArtifactRecord(a, 1), owner="dataset/x:1")
    store.put_artifact(ArtifactRecord(b, 2))
    store.put_artifact(ArtifactRecord(c, 3))
    store.put_artifact(ArtifactRecord(a, 1), owner="dataset/x:1")  # idempotent
    store.add_edges([EdgeRecord(f"artifact/{c}", "model/m:1")])
    assert {x.digest for x in store.list_artifacts(unreferenced_only=True)} == {b}
    assert store.remove_refs("dataset/x:1") == 1
    assert {x.digest for x in store.list_artifacts(unreferenced_only=True)} == {a, b}
    store.delete_artifact(b)
    assert {x.digest for x in store.list_artifacts()} == {a, c}


def test_find_artifacts_by_prefix(store: MetadataStore) -> None:
    digests = ["ab12" + "0" * 60, "ab12" + "1" * 60, "ab34" + "0" * 60, "cd" + "0" * 62]
    for digest in digests:
        store.put_artifact(ArtifactRecord(digest, 1))
    assert [a.digest for a in store.find_artifacts("ab12")] == digests[:2]
    assert [a.digest for a in store.find_artifacts("ab")] == digests[:3]
    assert [a.digest for a in store.find_artifacts("ab", limit=1)] == digests[:1]
    assert [a.digest for a in store.find_artifacts("cd00")] == digests[3:]
    assert store.find_artifacts("ef") == []
    assert store.find_artifacts("%") == [] and store.find_artifacts("_") == []  # LIKE wildcards match nothing


def test_lineage_edges_idempotent(store: MetadataStore) -> None:
    edge = EdgeRecord("dataset/x:1", "job/j1", "input", "j1")
    store.add_edges([edge, edge])
    store.add_edges([EdgeRecord("job/j1", "model/m:1", "output", "j1")])
    assert [(e.src, e.dst) for e in store.list_edges(dst="job/j1")] == [("dataset/x:1", "job/j1")]
    assert [e.dst for e in store.list_edges(src="job/j1")] == ["model/m:1"]
    assert store.lineage_nodes("model/m:") == ["model/m:1"]
    assert store.lineage_nodes("job/") == ["job/j1"]
    assert store.lineage_nodes("job/%") == []


def test_metrics_series_and_latest(store: MetadataStore) -> None:
    store.log_metrics("job/a", [("loss", 0.9, 0, 1.0), ("loss", 0.5, 1, 2.0), ("auc", 0.7, 1, 2.0)])
    store.log_metrics("job/b", [("loss", 0.3, 0, 1.0)])
    assert [m.value for m in store.get_metrics("job/a", "loss")] == [0.9, 0.5]
    latest = store.latest_metrics()
    assert latest == {"job/a": {"loss": 0.5, "auc": 0.7}, "job/b": {"loss": 0.3}}
    assert store.latest_metrics(["job/b"]) == {"job/b": {"loss": 0.3}}
