"""``constraints.json`` (reference §10.4): suggested from a baseline's statistics, edited by users
(JSON or YAML), validated strictly, and honoured by every check.

Suggestion rules (Deequ's, reduced to what Model Monitor writes): ``completeness`` is the
baseline's observed non-null fraction; ``num_constraints.is_non_negative`` is true when a numeric
feature's minimum is >= 0; ``string_constraints.domains`` lists the observed values of a String
feature with at most :data:`MAX_DOMAIN` distinct values. ``monitoring_config`` takes the SDK's
defaults: Robust, LInfinity, every threshold 0.1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from forgeml.errors import ValidationError

MAX_DOMAIN = 20
Switch = Literal["Enabled", "Disabled"]
Threshold = float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DistributionConstraints(_Strict):
    perform_comparison: Switch = "Enabled"
    comparison_threshold: Threshold = Field(default=0.1, ge=0)
    comparison_method: Literal["Simple", "Robust"] = "Robust"
    categorical_comparison_threshold: Threshold = Field(default=0.1, ge=0)
    categorical_drift_method: Literal["LInfinity", "ChiSquared"] = "LInfinity"


class MonitoringConfig(_Strict):
    evaluate_constraints: Switch = "Enabled"
    emit_metrics: Switch = "Enabled"
    datatype_check_threshold: Threshold = Field(default=0.1, ge=0, le=1)
    domain_content_threshold: Threshold = Field(default=0.1, ge=0, le=1)
    distribution_constraints: DistributionConstraints = Field(default_factory=DistributionConstraints)


class Overrides(_Strict):
    """Per-feature ``monitoringConfigOverrides``: any threshold or method of ``monitoring_config``."""

    datatype_check_threshold: Threshold | None = Field(default=None, ge=0, le=1)
    domain_content_threshold: Threshold | None = Field(default=None, ge=0, le=1)
    comparison_threshold: Threshold | None = Field(default=None, ge=0)
    comparison_method: Literal["Simple", "Robust"] | None = None
    categorical_comparison_threshold: Threshold | None = Field(default=None, ge=0)
    categorical_drift_method: Literal["LInfinity", "ChiSquared"] | None = None


class NumConstraints(_Strict):
    is_non_negative: bool | None = None


class StringConstraints(_Strict):
    domains: list[str] | None = None


class FeatureConstraints(_Strict):
    name: str = Field(min_length=1)
    inferred_type: Literal["Integral", "Fractional", "String", "Unknown"]
    completeness: float | None = Field(default=None, ge=0, le=1)
    num_constraints: NumConstraints | None = None
    string_constraints: StringConstraints | None = None
    monitoringConfigOverrides: Overrides = Field(default_factory=Overrides)


class Constraints(_Strict):
    version: int = 0
    features: list[FeatureConstraints] = Field(default_factory=list)
    monitoring_config: MonitoringConfig = Field(default_factory=MonitoringConfig)

    def feature(self, name: str) -> FeatureConstraints | None:
        return next((f for f in self.features if f.name == name), None)

    def setting(self, feature: FeatureConstraints | None, key: str) -> Any:
        """A threshold or method for ``feature``: its override, else ``monitoring_config``'s."""
        if feature is not None and getattr(feature.monitoringConfigOverrides, key) is not None:
            return getattr(feature.monitoringConfigOverrides, key)
        mc = self.monitoring_config
        return getattr(mc, key) if hasattr(mc, key) else getattr(mc.distribution_constraints, key)

    def document(self) -> dict[str, Any]:
        """The JSON document, leaving out what was not set."""
        return self.model_dump(mode="json", exclude_none=True)


def suggest(statistics: dict[str, Any]) -> Constraints:
    """Constraints suggested from a baseline's ``statistics.json``."""
    items = max(int(statistics.get("dataset", {}).get("item_count", 0)), 0)
    features = []
    for feat in statistics.get("features", []):
        kind = feat["inferred_type"]
        stats = feat.get("numerical_statistics") or feat.get("string_statistics") or {}
        common = stats.get("common", {})
        present = int(common.get("num_present", 0))
        total = present + int(common.get("num_missing", 0)) or items
        entry: dict[str, Any] = {"name": feat["name"], "inferred_type": kind,
                                 "completeness": round(present / total, 6) if total else 0.0}  # fmt: skip
        if kind in ("Integral", "Fractional") and present:
            entry["num_constraints"] = {"is_non_negative": bool(stats["min"] >= 0)}
        if kind == "String":
            buckets = stats.get("distribution", {}).get("categorical", {}).get("buckets", [])
            if 0 < len(buckets) <= MAX_DOMAIN and stats.get("distinct_count", 0) <= MAX_DOMAIN:
                entry["string_constraints"] = {"domains": sorted(str(b["value"]) for b in buckets)}
        features.append(entry)
    return Constraints.model_validate({"version": 0, "features": features})


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse(document: Any, origin: str = "constraints") -> Constraints:
    """Validate a constraints document (a dict).

    Raises:
        ValidationError: one line naming the first bad field, e.g.
            ``constraints.yaml: features[1].completeness: Input should be a valid number (got 'high')``.
    """
    if not isinstance(document, dict):
        raise ValidationError(f"{origin}: expected a JSON/YAML object with 'features' and 'monitoring_config'")
    try:
        return Constraints.model_validate(document)
    except PydanticError as exc:
        err = exc.errors()[0]
        got = "" if err["type"] == "missing" else f" (got {err.get('input')!r})"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        more = f" and {len(exc.errors()) - 1} more" if len(exc.errors()) > 1 else ""
        raise ValidationError(f"{origin}: {_where(tuple(err['loc']))}: {message}{got}{more}") from None


def load(source: Any) -> Constraints:
    """Constraints from a :class:`Constraints`, a dict, or a local ``.json`` / ``.yaml`` / ``.yml`` file.

    Raises:
        ValidationError: unreadable text, or a document :func:`parse` refuses.
        NotFoundError: no such file.
    """
    if isinstance(source, Constraints):
        return source
    if isinstance(source, dict):
        return parse(source)
    return parse(read_document(source), str(source))


def read_document(source: Any) -> Any:
    """The document in a local ``.json`` / ``.yaml`` / ``.yml`` file.

    Raises:
        ValidationError: unreadable text. NotFoundError: no such file.
    """
    from forgeml.errors import NotFoundError

    path = Path(source)
    if not path.is_file():
        raise NotFoundError(f"constraints file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            document = yaml.safe_load(text)
        else:
            document = json.loads(text)
    except (ValueError, Exception) as exc:  # yaml.YAMLError and json.JSONDecodeError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValidationError(f"{path}: not valid {'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'}: {first}") from None
    return document


__all__ = ["MAX_DOMAIN", "Constraints", "FeatureConstraints", "load", "parse", "read_document", "suggest"]
