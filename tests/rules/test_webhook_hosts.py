"""One webhook allow-list for alarms, async notifications and rules; the old alarm name still read."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeml.alarms._config import parse_alarm
from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.settings import load_settings

ALARM = {"name": "a", "namespace": "AWS/SageMaker", "metric_name": "Invocations", "threshold": 1,
         "comparison_operator": "GreaterThanThreshold", "webhook_url": "http://old.example/hook"}  # fmt: skip


def test_the_old_alarm_variable_adds_to_the_one_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGEML_ALARM_WEBHOOK_ALLOWED_HOSTS", "old.example")
    monkeypatch.setenv("FORGEML_ALLOWED_WEBHOOK_HOSTS", "new.example,old.example")
    settings = load_settings(home=str(tmp_path / "ws"))
    assert settings.allowed_webhook_hosts == ["new.example", "old.example"]
    with Workspace(settings) as ws:
        assert ws.alarms.put(ALARM).name == "a"  # alarms read the one list
        rule = ws.rules.create("r", {"source": ["forgeml.alarms"]}, [{"type": "webhook", "url": "https://old.example/x"}])
        assert rule.spec["targets"][0]["url"] == "https://old.example/x"


def test_the_old_name_in_a_config_file_and_nothing_allowed_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FORGEML_ALARM_WEBHOOK_ALLOWED_HOSTS", "FORGEML_ALLOWED_WEBHOOK_HOSTS", "FORGEML_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    assert load_settings(home=str(tmp_path / "empty")).allowed_webhook_hosts == []
    with pytest.raises(ValidationError, match="allowed_webhook_hosts"):
        parse_alarm(ALARM, [])
    config = tmp_path / "config.yaml"
    config.write_text("alarm_webhook_allowed_hosts: [old.example]\n")
    monkeypatch.setenv("FORGEML_CONFIG", str(config))
    assert load_settings(home=str(tmp_path / "ws")).allowed_webhook_hosts == ["old.example"]
