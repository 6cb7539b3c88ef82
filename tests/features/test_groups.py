"""Feature groups: definitions, versions, refused retyping, lineage."""

from __future__ import annotations

import pandas as pd
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError
from forgeml.features import FeatureDefinition, infer_definitions, parse_ttl

DEFS = ["id:Integral", "ts:String", "amount:Fractional", "city:String"]


def test_create_show_and_list(ws: Workspace) -> None:
    g = ws.features.create_group("cust", record_identifier="id", event_time_feature="ts", features=DEFS,
                                 description="customers", online_ttl="2h", tags={"team": "risk"})  # fmt: skip
    assert g.version == 1 and g.ref == "feature-group/cust:1" and g.online_ttl_seconds == 7200
    assert g.value_features == ["amount", "city"] and g.types["ts"] == "String"
    got = ws.features.describe("cust")
    assert got["description"] == "customers" and got["tags"] == {"team": "risk"} and got["versions"] == [1]
    assert [x.name for x in ws.features.list_groups()] == ["cust"]
    with pytest.raises(AlreadyExistsError):
        ws.features.create_group("cust", record_identifier="id", event_time_feature="ts", features=DEFS)


def test_adding_features_makes_a_version_and_retyping_is_refused(ws: Workspace) -> None:
    ws.features.create_group("cust", record_identifier="id", event_time_feature="ts", features=DEFS)
    v2 = ws.features.add_features("cust", ["score:Fractional", "amount:Fractional"])
    assert v2.version == 2 and v2.value_features == ["amount", "city", "score"]
    assert ws.features.get_group("cust", 1).value_features == ["amount", "city"]
    with pytest.raises(ValidationError, match=r"'amount' is Fractional; changing it to String is not allowed"):
        ws.features.add_features("cust", ["amount:String"])
    with pytest.raises(ValidationError, match="no new features"):
        ws.features.add_features("cust", ["score:Fractional"])
    assert [e.src for e in ws.metadata.list_edges(dst=v2.ref)] == ["feature-group/cust:1"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["id:Integral", "ts:Decimal"]}, "unknown type 'Decimal'"),
        ({"features": ["id:Integral", "ts:String", "write_time:String"]}, "reserved"),
        ({"features": ["id:Integral", "ts:String", "bad name:String"]}, "invalid feature name"),
        ({"features": ["id:Integral", "ts:String", "id:String"]}, "defined twice"),
        ({"record_identifier": "nope"}, "record identifier 'nope' is not among"),
        ({"features": ["id:Fractional", "ts:String"]}, "must be Integral or String"),
        ({"features": ["id:Integral", "ts:Integral"]}, "event time must be Fractional"),
        ({"name": "bad_name!"}, "invalid feature group name"),
        ({"online_ttl": "-3d"}, "invalid TTL"),
    ],
)
def test_bad_definitions(ws: Workspace, kwargs: dict, message: str) -> None:
    args = {"name": "g", "record_identifier": "id", "event_time_feature": "ts", "features": ["id:Integral", "ts:String"]}
    args.update(kwargs)
    name = args.pop("name")
    with pytest.raises(ValidationError, match=message):
        ws.features.create_group(name, **args)
    assert ws.features.list_groups() == []


def test_unknown_group(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="feature group 'ghost' does not exist"):
        ws.features.put_record("ghost", {"id": 1})
    with pytest.raises(NotFoundError):
        ws.features.get_record("ghost", 1)


def test_infer_definitions_and_ttl() -> None:
    frame = pd.DataFrame({"i": [1], "f": [1.5], "s": ["x"], "t": pd.to_datetime(["2026-01-01"]), "b": [True]})
    assert infer_definitions(frame, "t") == [
        FeatureDefinition("i", "Integral"), FeatureDefinition("f", "Fractional"), FeatureDefinition("s", "String"),
        FeatureDefinition("t", "Timestamp"), FeatureDefinition("b", "Integral"),
    ]  # fmt: skip
    assert parse_ttl("90m") == 5400 and parse_ttl(30) == 30 and parse_ttl("1w") == 604800 and parse_ttl(None) is None


def test_create_from_frame_and_delete(ws: Workspace) -> None:
    frame = pd.DataFrame({"id": [1, 2], "ts": [1.0, 2.0], "x": [0.5, 0.7]})
    g = ws.features.create_group("f", record_identifier="id", event_time_feature="ts", features=frame)
    assert g.types == {"id": "Integral", "ts": "Fractional", "x": "Fractional"}
    ws.features.ingest("f", frame)
    assert ws.features.get_record("f", 2)["x"] == 0.7
    ws.features.delete_group("f")
    with pytest.raises(NotFoundError):
        ws.features.get_group("f")
    assert list(ws.features.online.scan("f")) == []
    assert not ws.features.offline("f").files()
