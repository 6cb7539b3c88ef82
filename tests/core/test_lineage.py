"""Lineage graph queries and reference resolution."""

from __future__ import annotations

import pytest

from forgeml.core.records import ResourceRecord
from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, ValidationError


def test_upstream_and_downstream(ws: Workspace) -> None:
    ws.metadata.create_resource(ResourceRecord(kind="dataset", name="loans"))
    ws.metadata.create_resource(ResourceRecord(kind="model", name="m"))
    ws.lineage.record("dataset/loans:1", "job/train", "input")
    ws.lineage.record("job/train", "model/m:1", "output")
    ws.lineage.record("model/m:1", "endpoint/e:1", "deployed")
    up = ws.lineage.upstream("model/m")  # resolves to the latest version
    assert up.ref == "model/m:1"
    assert up.children[0].ref == "job/train" and up.children[0].relation == "output"
    assert up.children[0].children[0].ref == "dataset/loans:1"
    down = ws.lineage.downstream("dataset/loans")
    assert down.refs() == {"dataset/loans:1", "job/train", "model/m:1", "endpoint/e:1"}
    assert ws.lineage.downstream("dataset/loans:1", depth=1).refs() == {"dataset/loans:1", "job/train"}


def test_cycles_do_not_loop(ws: Workspace) -> None:
    ws.metadata.create_resource(ResourceRecord(kind="dataset", name="a"))
    ws.lineage.record("dataset/a:1", "dataset/b:1")
    ws.lineage.record("dataset/b:1", "dataset/a:1")
    assert ws.lineage.upstream("dataset/a:1").refs() == {"dataset/a:1", "dataset/b:1"}


@pytest.mark.parametrize(("ref", "error"), [("loans", ValidationError), ("dataset/x:y", ValidationError), ("dataset/none", NotFoundError), ("job/none", NotFoundError)])
def test_bad_references(ws: Workspace, ref: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        ws.lineage.upstream(ref)


def test_deleted_resource_keeps_its_lineage(ws: Workspace) -> None:
    ws.metadata.create_resource(ResourceRecord(kind="endpoint", name="e"))
    ws.metadata.create_resource(ResourceRecord(kind="endpoint", name="e"), next_version=True)
    ws.lineage.record("model/m:1", "endpoint/e:1", "deployed")
    ws.lineage.record("model/m:2", "endpoint/e:2", "deployed")
    ws.metadata.delete_resource("endpoint", "e")
    assert ws.lineage.upstream("endpoint/e").refs() == {"endpoint/e:2", "model/m:2"}
