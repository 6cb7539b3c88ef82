"""Feature groups and typed feature definitions (SageMaker's FeatureGroup model).

A feature group names a record identifier, an event time and typed features. Versions are
immutable: adding features makes a new version; changing a feature's type is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forgeml.core.jobs import validate_name
from forgeml.core.records import ResourceRecord
from forgeml.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

KIND = "feature-group"

#: SageMaker's scalar feature types, plus ``Timestamp`` for an event time held as a datetime.
FEATURE_TYPES = ("Integral", "Fractional", "String", "Timestamp")
#: Columns the offline store adds to every row; no feature may use these names.
RESERVED = ("write_time", "api_invocation_time", "is_deleted", "event_date")
_FEATURE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_TTL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Offline partition granularity -> strftime format of the ``event_date=`` folder.
PARTITIONS = {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}


@dataclass(frozen=True)
class FeatureDefinition:
    """One typed feature: ``Integral`` (int64), ``Fractional`` (float64), ``String`` or ``Timestamp``."""

    name: str
    type: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}

    @classmethod
    def parse(cls, value: FeatureDefinition | dict[str, Any] | str) -> FeatureDefinition:
        """From a definition, a ``{"name", "type"}`` dict or a ``"name:Type"`` string.

        Raises:
            ValidationError: unknown type or invalid name.
        """
        name: Any
        type_: Any
        if isinstance(value, FeatureDefinition):
            name, type_ = value.name, value.type
        elif isinstance(value, dict):
            name, type_ = value.get("name"), value.get("type")
        elif isinstance(value, str) and ":" in value:
            name, _, type_ = value.partition(":")
        else:
            raise ValidationError(f"invalid feature definition {value!r} (expected NAME:TYPE)")
        if not isinstance(name, str) or not _FEATURE_NAME.match(name):
            raise ValidationError(
                f"invalid feature name {name!r}: use 1-64 letters, digits or underscores, starting with a letter"
            )
        if name in RESERVED:
            raise ValidationError(f"feature name {name!r} is reserved by the offline store")
        if type_ not in FEATURE_TYPES:
            raise ValidationError(f"feature {name!r}: unknown type {type_!r} (expected one of {', '.join(FEATURE_TYPES)})")
        return cls(name, type_)


def parse_ttl(value: float | int | str | None) -> float | None:
    """A TTL in seconds from a number or text such as ``"90m"`` or ``"7d"`` (None: no TTL).

    Raises:
        ValidationError: when the value is not a positive duration.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(f"invalid TTL {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _TTL.match(str(value))
        if not match:
            raise ValidationError(f"invalid TTL {value!r} (expected seconds or a number with s, m, h, d or w)")
        seconds = float(match.group(1)) * _TTL_UNITS[match.group(2)]
    if not seconds > 0:
        raise ValidationError(f"invalid TTL {value!r}: must be positive")
    return seconds


@dataclass(frozen=True)
class FeatureGroup:
    """One immutable version of a feature group, as stored in the metadata store."""

    name: str
    version: int
    record_identifier: str
    event_time_feature: str
    features: tuple[FeatureDefinition, ...]
    description: str | None = None
    online_ttl_seconds: float | None = None
    online_enabled: bool = True
    offline_enabled: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    offline_partition: str = "day"

    @property
    def ref(self) -> str:
        return f"{KIND}/{self.name}:{self.version}"

    @property
    def types(self) -> dict[str, str]:
        return {f.name: f.type for f in self.features}

    @property
    def value_features(self) -> list[str]:
        """Feature names other than the record identifier and the event time."""
        keys = (self.record_identifier, self.event_time_feature)
        return [f.name for f in self.features if f.name not in keys]

    def check_features(self, names: list[str] | None) -> list[str]:
        """The requested value features (all when None), refusing unknown names.

        Raises:
            ValidationError: naming the unknown feature(s).
        """
        if names is None:
            return self.value_features
        unknown = [n for n in names if n not in self.types]
        if unknown:
            raise ValidationError(f"feature group {self.name!r} has no feature(s) {', '.join(map(repr, unknown))}")
        return [n for n in names if n not in (self.record_identifier, self.event_time_feature)]

    def to_spec(self) -> dict[str, Any]:
        return {
            "record_identifier": self.record_identifier,
            "event_time_feature": self.event_time_feature,
            "features": [f.to_dict() for f in self.features],
            "description": self.description,
            "online_ttl_seconds": self.online_ttl_seconds,
            "online_enabled": self.online_enabled,
            "offline_enabled": self.offline_enabled,
            "offline_partition": self.offline_partition,
        }

    def to_dict(self) -> dict[str, Any]:
        from forgeml.core.records import iso

        return {"name": self.name, "version": self.version, "ref": self.ref, **self.to_spec(),
                "tags": dict(self.tags), "created_at": iso(self.created_at)}  # fmt: skip

    @classmethod
    def from_record(cls, record: ResourceRecord) -> FeatureGroup:
        spec = record.spec
        return cls(
            name=record.name, version=record.version,
            record_identifier=spec["record_identifier"], event_time_feature=spec["event_time_feature"],
            features=tuple(FeatureDefinition(f["name"], f["type"]) for f in spec["features"]),
            description=spec.get("description"), online_ttl_seconds=spec.get("online_ttl_seconds"),
            online_enabled=spec.get("online_enabled", True), offline_enabled=spec.get("offline_enabled", True),
            tags=dict(record.tags), created_at=record.created_at, offline_partition=spec.get("offline_partition", "day"),
        )  # fmt: skip


def build_group(
    name: str,
    record_identifier: str,
    event_time_feature: str,
    features: list[Any],
    *,
    version: int = 1,
    description: str | None = None,
    online_ttl: float | int | str | None = None,
    online_enabled: bool = True,
    offline_enabled: bool = True,
    tags: dict[str, str] | None = None,
    offline_partition: str = "day",
) -> FeatureGroup:
    """Validate a feature group definition.

    Raises:
        ValidationError: bad name, duplicate or unknown features, wrong identifier/event-time type.
    """
    validate_name(name, "feature group name")
    defs = [FeatureDefinition.parse(f) for f in features]
    seen: set[str] = set()
    for d in defs:
        if d.name in seen:
            raise ValidationError(f"feature group {name!r}: feature {d.name!r} is defined twice")
        seen.add(d.name)
    types = {d.name: d.type for d in defs}
    if record_identifier not in types:
        raise ValidationError(f"feature group {name!r}: record identifier {record_identifier!r} is not among the features")
    if types[record_identifier] not in ("Integral", "String"):
        raise ValidationError(f"feature group {name!r}: record identifier must be Integral or String, not {types[record_identifier]}")
    if event_time_feature not in types:
        raise ValidationError(f"feature group {name!r}: event time feature {event_time_feature!r} is not among the features")
    if types[event_time_feature] not in ("Fractional", "String", "Timestamp"):
        raise ValidationError(
            f"feature group {name!r}: event time must be Fractional (epoch seconds), String (ISO-8601) or Timestamp, "
            f"not {types[event_time_feature]}"
        )
    if record_identifier == event_time_feature:
        raise ValidationError(f"feature group {name!r}: record identifier and event time must differ")
    if offline_partition not in PARTITIONS:
        raise ValidationError(f"feature group {name!r}: offline partition must be day, month or year, not {offline_partition!r}")
    for d in defs:
        if d.type == "Timestamp" and d.name != event_time_feature:
            raise ValidationError(f"feature {d.name!r}: only the event time may be a Timestamp")
    return FeatureGroup(
        name=name, version=version, record_identifier=record_identifier, event_time_feature=event_time_feature,
        features=tuple(defs), description=description, online_ttl_seconds=parse_ttl(online_ttl),
        online_enabled=online_enabled, offline_enabled=offline_enabled, tags=dict(tags or {}),
        offline_partition=offline_partition,
    )  # fmt: skip


def infer_definitions(frame: pd.DataFrame, event_time_feature: str | None = None) -> list[FeatureDefinition]:
    """Feature definitions from a frame's dtypes (SageMaker's ``load_feature_definitions``).

    Integer columns become Integral, floating columns Fractional, datetimes Timestamp (event time
    only), everything else String.
    """
    import pandas as pd

    out = []
    for col, dtype in frame.dtypes.items():
        name = str(col)
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
            type_ = "Integral"
        elif pd.api.types.is_float_dtype(dtype):
            type_ = "Fractional"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            type_ = "Timestamp" if name == event_time_feature else "String"
        else:
            type_ = "String"
        out.append(FeatureDefinition(name, type_))
    return out
