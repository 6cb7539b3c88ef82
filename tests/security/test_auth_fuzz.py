"""Schemathesis against a server with security on (issue 14, item 1): without a credential
every call is a 401 (and audited), with a ReadOnly key every write is a 403; never a server
error nor a status the spec does not declare."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.security import AuditLog, PrincipalStore
from forgeml.settings import load_settings
from tests.api.conftest import Served, serve
from tests.api.test_fuzz import SEED, _assert_clean

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def secured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    home = tmp_path_factory.mktemp("api-secured") / "ws"
    ws = Workspace(load_settings(home=str(home), security_enabled=True, job_stop_grace_seconds=2.0, job_poll_seconds=0.1))
    PrincipalStore(ws).create_principal("viewer", policies=["ReadOnly"])
    credential = PrincipalStore(ws).create_key("viewer").credential
    try:
        for served in serve(ws):
            yield served, credential
    finally:
        ws.close()


def _config(path: Path) -> Path:
    """A short run: the answers here are decided before any handler, so few examples suffice."""
    path.write_text("\n".join([
        f"seed = {SEED}", "workers = 1", "[phases.examples]\nenabled = false", "[phases.stateful]\nenabled = false",
        "[phases.coverage]\nenabled = false", "[phases.fuzzing]\nenabled = true", "[generation]\nmax-examples = 1",
        '[checks.positive_data_acceptance]\nexpected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]',
    ]) + "\n")  # fmt: skip
    return path


def _run(served: Served, tmp: Path, headers: list[str]) -> subprocess.CompletedProcess[str]:
    config = _config(tmp / "schemathesis.toml")
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{served.url}/openapi.json",
        "--checks", "all", "--phases", "fuzzing", "--continue-on-failure", "--no-color",
        "--warnings", "off", "--request-timeout", "60", *headers,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp, check=False)


def test_without_a_credential_every_call_is_401(secured_server: tuple[Served, str], tmp_path: Path) -> None:
    served, _ = secured_server
    _assert_clean(_run(served, tmp_path, []))
    records = AuditLog(served.workspace).records()
    assert len(records) > 100
    assert {r.outcome for r in records} == {"Unauthenticated"}


def test_a_read_only_key_is_refused_every_write(secured_server: tuple[Served, str], tmp_path: Path) -> None:
    served, credential = secured_server
    before = AuditLog(served.workspace).records(limit=1)[0].id
    _assert_clean(_run(served, tmp_path, ["--header", f"X-Forgeml-Key: {credential}"]))
    records = [r for r in AuditLog(served.workspace).records(principal="viewer") if r.id > before]
    assert records
    wrong = [r for r in records if (r.outcome == "Allowed") != r.action.endswith((":Read", ":List", "system:Health"))]
    assert not wrong, wrong[:5]
