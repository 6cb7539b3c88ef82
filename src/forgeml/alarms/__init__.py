"""Metrics and alarms (the CloudWatch role): a metrics store, metric alarms, their evaluation loop."""

from forgeml.alarms._config import AlarmConfig
from forgeml.alarms._metrics import Datapoint, MetricsStore
from forgeml.alarms._service import AlarmService

__all__ = ["AlarmConfig", "AlarmService", "Datapoint", "MetricsStore"]
