"""An alarm's configuration (``PutMetricAlarm``), checked as CloudWatch checks it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from forgeml.alarms._evaluate import OPERATORS, TREATMENTS
from forgeml.alarms._metrics import check_series, check_statistic
from forgeml.core.access import reaches
from forgeml.core.jobs import validate_name
from forgeml.errors import ValidationError


class AlarmConfig(BaseModel):
    """One metric alarm: the series, the statistic per period and the rule."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    namespace: StrictStr
    metric_name: StrictStr
    dimensions: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    statistic: StrictStr = "Average"
    period: StrictInt = Field(default=60, ge=10, le=604_800)
    evaluation_periods: StrictInt = Field(default=1, ge=1, le=100_000)
    datapoints_to_alarm: StrictInt | None = Field(default=None, ge=1, le=100_000)
    threshold: StrictFloat | Annotated[int, Field(ge=-(2**53 - 1), le=2**53 - 1), Strict()]
    comparison_operator: StrictStr
    treat_missing_data: StrictStr = "missing"
    description: StrictStr = ""
    actions_enabled: StrictBool = True
    webhook_url: StrictStr | None = Field(None, json_schema_extra=reaches("output", "posted to only when its host is in allowed_webhook_hosts"))

    @model_validator(mode="after")
    def _rules(self) -> AlarmConfig:
        validate_name(self.name, "alarm name")
        check_series(self.namespace, self.metric_name, self.dimensions)
        check_statistic(self.statistic)
        if not (self.period in (10, 20, 30) or (self.period >= 60 and self.period % 60 == 0)):
            raise ValueError(
                f"period must be 10, 20, 30 or a multiple of 60 seconds, got {self.period}"
            )
        limit = 86_400 if self.period < 3600 else 604_800
        if self.period * self.evaluation_periods > limit:
            raise ValueError(f"period x evaluation_periods must be at most {limit} seconds")
        m = (
            self.datapoints_to_alarm
            if self.datapoints_to_alarm is not None
            else self.evaluation_periods
        )
        if not 1 <= m <= self.evaluation_periods:
            raise ValueError(
                f"datapoints_to_alarm must be 1 to evaluation_periods ({self.evaluation_periods}), got {m}"
            )
        self.datapoints_to_alarm = m
        if self.comparison_operator not in OPERATORS:
            raise ValueError(
                f"unknown comparison_operator {self.comparison_operator!r} (expected one of {', '.join(OPERATORS)})"
            )
        if self.treat_missing_data not in TREATMENTS:
            raise ValueError(
                f"unknown treat_missing_data {self.treat_missing_data!r} (expected one of {', '.join(TREATMENTS)})"
            )
        return self


def parse_alarm(config: dict[str, Any] | AlarmConfig, allowed_hosts: list[str]) -> AlarmConfig:
    """A checked alarm config.

    Raises:
        ValidationError: a bad field (named), or a webhook to a host the operator did not allow.
    """
    import pydantic

    if isinstance(config, AlarmConfig):
        cfg = config
    else:
        try:
            cfg = AlarmConfig.model_validate(config)
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "alarm"
            raise ValidationError(
                f"alarm config: {where}: {err['msg'].removeprefix('Value error, ')}"
            ) from None
        except ValidationError as exc:
            raise ValidationError(f"alarm config: {exc.message}") from None
    if cfg.webhook_url is not None:
        parts = urlsplit(cfg.webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                f"alarm config: webhook_url {cfg.webhook_url!r} must be an http(s) URL"
            )
        if parts.hostname.lower() not in {h.lower() for h in allowed_hosts}:
            raise ValidationError(
                f"alarm config: webhook_url host {parts.hostname!r} is not allowed; the operator lists webhook hosts in "
                "allowed_webhook_hosts (FORGEML_ALLOWED_WEBHOOK_HOSTS; the old FORGEML_ALARM_WEBHOOK_ALLOWED_HOSTS still counts; empty by default: no webhooks)"
            )
    return cfg


__all__ = ["AlarmConfig", "parse_alarm"]
