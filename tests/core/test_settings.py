"""Settings: defaults, environment, config file, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeml.errors import ValidationError
from forgeml.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("FORGEML_HOME", "FORGEML_DATABASE_URL", "FORGEML_ARTIFACT_URI", "FORGEML_CONFIG", "FORGEML_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_live_in_dot_forgeml(tmp_path: Path) -> None:
    s = load_settings()
    assert s.resolved_home == (tmp_path / ".forgeml").resolve()
    assert s.resolved_database_url == f"sqlite:///{tmp_path.resolve() / '.forgeml' / 'forgeml.db'}"
    assert s.resolved_artifact_uri == str((tmp_path / ".forgeml" / "artifacts").resolve())
    assert s.host == "127.0.0.1"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGEML_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("FORGEML_PORT", "9999")
    s = load_settings()
    assert s.resolved_database_url == "postgresql://u@h/db" and s.port == 9999


def test_config_file_under_env_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("port: 7000\nmax_payload_mb: 25\nhost: 127.0.0.2\n")
    monkeypatch.setenv("FORGEML_HOME", str(home))
    monkeypatch.setenv("FORGEML_HOST", "127.0.0.3")
    s = load_settings()
    assert s.port == 7000 and s.max_payload_mb == 25 and s.host == "127.0.0.3"
    assert load_settings(port=7100).port == 7100


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("port: [1, 2", "not valid YAML"),
        ("- a\n- b\n", "must hold a mapping"),
        ("port: 99999\n", "invalid setting port"),
        ("execution_backend: kubernetes\n", "unknown execution backend"),
    ],
)
def test_bad_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, message: str) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(content)
    monkeypatch.setenv("FORGEML_CONFIG", str(path))
    with pytest.raises(ValidationError, match=message):
        load_settings()


def test_missing_named_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGEML_CONFIG", "/nonexistent/forgeml.yaml")
    with pytest.raises(ValidationError, match="does not exist"):
        load_settings()


def test_to_env_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(home=str(tmp_path / "x"), job_stop_grace_seconds=3)
    for key, value in s.to_env().items():
        monkeypatch.setenv(key, value)
    again = load_settings()
    assert again.resolved_database_url == s.resolved_database_url
    assert again.job_stop_grace_seconds == 3
