"""Encryption at rest on every covered store: datasets, folders (model packages), the feature
store's offline files, data capture, the PII key; and ``forgeml keys`` end to end."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import orjson
import pandas as pd
import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import CorruptArtifactError, ValidationError
from forgeml.security import MAGIC, read_lines
from forgeml.settings import Settings
from tests.cli_runner import run_cli

T0 = 1_767_225_600.0


@pytest.fixture
def sealed(settings: Settings) -> Workspace:
    workspace = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    yield workspace  # type: ignore[misc]
    workspace.close()


def _all_sealed(files: list[Path]) -> bool:
    return bool(files) and all(p.read_bytes()[: len(MAGIC)] == MAGIC for p in files)


def _artifact_files(ws: Workspace) -> list[Path]:
    return [p for p in (Path(ws.artifacts.root) / "sha256").rglob("*") if p.is_file()]


def test_dataset_versions_round_trip_sealed_and_leave_no_plaintext_in_the_workspace(sealed: Workspace) -> None:
    names = ["ann-zq81", "bob-zq82", "cy-zq83"]
    frame = pd.DataFrame({"applicant": names, "income": [52.0, 61.5, 40.0], "state": ["MA", "NY", "MA"]})
    flat = sealed.datasets.create("loans", frame)
    hive = sealed.datasets.create("loans-by-state", frame, partition_by="state")
    assert _all_sealed(_artifact_files(sealed))
    pd.testing.assert_frame_equal(sealed.datasets.read("loans"), frame)
    assert sorted(sealed.datasets.read("loans-by-state")["applicant"]) == names
    assert sealed.datasets.head("loans", n=2)["applicant"].tolist() == names[:2]
    assert flat.data["content_hash"] and hive.version == 1
    leaked = [p for p in sealed.home.rglob("*") if p.is_file() and b"zq8" in p.read_bytes()]
    assert leaked == []  # working copies live in a private temporary folder, not the workspace


def test_folders_round_trip_sealed(sealed: Workspace, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "model").mkdir(parents=True)
    (pkg / "MLmodel").write_text("flavor: sklearn\n")
    (pkg / "model" / "weights.bin").write_bytes(bytes(range(256)) * 10)
    rec = sealed.artifacts.put_dir(pkg)
    out = sealed.artifacts.get_dir(rec.digest, tmp_path / "out")
    assert (out / "MLmodel").read_text() == "flavor: sklearn\n"
    assert (out / "model" / "weights.bin").read_bytes() == bytes(range(256)) * 10
    assert _all_sealed(_artifact_files(sealed))


def test_feature_store_offline_files_are_sealed_and_queries_compaction_work(sealed: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    fs = sealed.features
    fs.create_group("acct", record_identifier="id", event_time_feature="ts", features=["id:String", "ts:Fractional", "v:Integral"])
    fs.ingest("acct", pd.DataFrame({"id": ["a", "b"], "ts": [T0, T0], "v": [1, 2]}))
    fs.ingest("acct", pd.DataFrame({"id": ["a", "c"], "ts": [T0 + 5, T0 + 1], "v": [10, 3]}))
    files = list(fs.offline("acct").dir.glob("event_date=*/*.parquet"))
    assert len(files) == 2 and _all_sealed(files)
    latest = fs.latest_snapshot("acct").sort_values("id")
    assert latest["v"].tolist() == [10, 2, 3]
    assert int(fs.query("SELECT count(*) AS n FROM acct")["n"][0]) == 4
    entity = pd.DataFrame({"id": ["a", "b"], "when": pd.to_datetime([T0 + 1, T0 + 1], unit="s", utc=True)})
    joined = fs.build_training_set(entity, ["acct:v"], event_time_column="when")
    assert joined.frame.sort_values("id")["v"].tolist() == [1, 2]
    assert fs.compact("acct")["partitions_compacted"] == 1
    files = list(fs.offline("acct").dir.glob("event_date=*/*.parquet"))
    assert len(files) == 1 and _all_sealed(files)
    assert fs.latest_snapshot("acct").sort_values("id")["v"].tolist() == [10, 2, 3]
    # an altered feature file fails naming the file, not with a Parquet error
    raw = bytearray(files[0].read_bytes())
    raw[-30] ^= 1
    files[0].write_bytes(bytes(raw))
    monkeypatch.setattr("forgeml.security._seal._PRIVATE", {})  # a new process's view: no working copy yet
    other = Workspace(sealed.settings)
    with pytest.raises(CorruptArtifactError, match=f"{files[0].name} failed decryption"):
        other.features.latest_snapshot("acct")
    other.close()


def test_feature_files_sealed_are_a_clear_error_with_encryption_off(sealed: Workspace, settings: Settings) -> None:
    sealed.features.create_group("g", record_identifier="id", event_time_feature="ts", features=["id:String", "ts:Fractional"])
    sealed.features.ingest("g", pd.DataFrame({"id": ["a"], "ts": [T0]}))
    plain = Workspace(settings)
    with pytest.raises(ValidationError, match="is encrypted: turn encryption_at_rest on"):
        plain.features.latest_snapshot("g")
    plain.close()


def test_data_capture_lines_are_sealed_and_read_back(sealed: Workspace, tmp_path: Path) -> None:
    from forgeml.serving._capture import CaptureWriter

    writer = CaptureWriter(tmp_path / "capture", "ep", seed=7, envelope=sealed.artifacts.envelope)
    for i in range(3):
        writer.write("A", b'{"instances": [[%d]]}' % i, "application/json", b'{"predictions": [0.5]}', "application/json")
    writer.close()
    (path,) = (tmp_path / "capture" / "ep").rglob("*.jsonl")
    assert path.read_bytes().startswith(MAGIC) and b"instances" not in path.read_bytes()
    records = [orjson.loads(line) for line in read_lines(path, sealed.artifacts.envelope, "capture:ep")]
    assert [r["captureData"]["endpointInput"]["data"] for r in records] == [f'{{"instances": [[{i}]]}}' for i in range(3)]
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join([lines[0], lines[2], lines[1], lines[3]]) + b"\n")  # two lines swapped
    with pytest.raises(CorruptArtifactError, match=r"line 2 failed decryption: it was altered or moved"):
        list(read_lines(path, sealed.artifacts.envelope, "capture:ep"))


def test_capture_envelope_follows_the_process_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from forgeml.security import capture_envelope

    assert capture_envelope() is None
    monkeypatch.setenv("FORGEML_ENCRYPTION_AT_REST", "true")
    assert capture_envelope() is not None


def test_pii_tokenization_key_is_sealed(sealed: Workspace) -> None:
    from forgeml.data import DataPrepService
    from forgeml.data._pii import workspace_secret

    people = pd.DataFrame({"email": ["ann@example.com", "bob@example.org"], "age": [31, 52]})
    sealed.datasets.create("people", people)
    DataPrepService(sealed).protect_pii("people", [{"column": "email", "action": "tokenize"}], output="people-safe")
    stored = (sealed.home / "secrets" / "pii-hmac.key").read_bytes()
    assert stored.startswith(MAGIC) and len(stored) > 32
    key = workspace_secret(sealed.home, "pii-hmac", sealed.artifacts.envelope)
    expected = "tok_" + hmac.new(key, b"ann@example.com", hashlib.sha256).hexdigest()[:32]
    assert sealed.datasets.read("people-safe")["email"][0] == expected


def test_keys_cli_status_rotate_reencrypt(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    home = settings.resolved_home
    plain = Workspace(settings)
    old = plain.artifacts.put_bytes(b"from before encryption")
    plain.close()
    monkeypatch.setenv("FORGEML_ENCRYPTION_AT_REST", "true")
    ws = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    new = ws.artifacts.put_bytes(b"sealed under the first key")
    ws.close()
    status = json.loads(run_cli(home, "keys", "status", "--json").stdout)
    first = status["current"]
    assert status["encryption_at_rest"] and status["artifacts_by_key"] == {"plain": 1, first: 1}
    rotated = run_cli(home, "keys", "rotate", "--alias", "forgeml", "--json")
    assert rotated.returncode == 0, rotated.stderr
    second = json.loads(rotated.stdout)["current"]
    assert second != first
    done = json.loads(run_cli(home, "keys", "reencrypt", "--json").stdout)
    assert done == {"key": second, "artifacts_reencrypted": 2, "artifacts_already_current": 0, "secrets_reencrypted": 0, "failed": {}}
    status = json.loads(run_cli(home, "keys", "status", "--json").stdout)
    assert status["artifacts_by_key"] == {second: 2} and [k["id"] for k in status["keys"]] == [first, second]
    ws = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    assert ws.artifacts.read_bytes(old.digest) == b"from before encryption"
    assert ws.artifacts.read_bytes(new.digest) == b"sealed under the first key"
    ws.close()


def test_loose_key_file_is_refused_by_the_cli_in_one_line(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    home = settings.resolved_home
    monkeypatch.setenv("FORGEML_ENCRYPTION_AT_REST", "true")
    assert run_cli(home, "keys", "rotate").returncode == 0
    key_file = home / "secrets" / "master-keys.json"
    key_file.chmod(0o640)
    result = run_cli(home, "keys", "status")
    assert result.returncode == 11
    assert result.stderr.strip() == f"error: key file {key_file} has mode 0640: a master key file must be readable by its owner only (run `chmod 600 {key_file}`)"


def test_keys_cli_with_encryption_off_says_so(settings: Settings) -> None:
    result = run_cli(settings.resolved_home, "keys", "rotate")
    assert result.returncode == 2 and "encryption at rest is off" in result.stderr


def test_generate_prints_a_usable_environment_key(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    key = run_cli(settings.resolved_home, "keys", "generate").stdout.strip()
    monkeypatch.setenv("FORGEML_MASTER_KEY", key)
    ws = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    rec = ws.artifacts.put_bytes(b"under the environment key")
    assert ws.artifacts.sealed_with(rec.digest).startswith("env-")
    assert not (settings.resolved_home / "secrets" / "master-keys.json").exists()
    ws.close()


def test_reencrypt_seals_a_pii_key_written_in_plain_and_tokens_stay_the_same(settings: Settings) -> None:
    from forgeml.data._pii import workspace_secret
    from forgeml.security import _rekey

    plain_key = workspace_secret(settings.resolved_home, "pii-hmac")
    ws = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    assert _rekey.status(ws)["secrets"] == {"pii-hmac.key": "plain"}
    assert _rekey.reencrypt(ws)["secrets_reencrypted"] == 1
    assert _rekey.status(ws)["secrets"] == {"pii-hmac.key": "sealed"}
    assert workspace_secret(ws.home, "pii-hmac", ws.artifacts.envelope) == plain_key
    assert _rekey.reencrypt(ws)["secrets_reencrypted"] == 0  # already under the current key
    ws.close()


def test_reencrypt_names_a_corrupt_artifact_and_does_the_rest(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGEML_ENCRYPTION_AT_REST", "true")
    ws = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    bad, good = ws.artifacts.put_bytes(b"will be damaged" * 50), ws.artifacts.put_bytes(b"fine")
    path = Path(ws.artifacts._path(bad.digest))
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    ws.artifacts.envelope.provider.rotate("forgeml")
    ws.close()
    result = run_cli(settings.resolved_home, "keys", "reencrypt")
    assert result.returncode == 7
    assert result.stderr.strip() == (f"error: artifact {bad.digest} ({path}) failed decryption at chunk 0: "
                                     "its encrypted bytes were altered or cut")  # fmt: skip
    assert "re-encrypted 1 artifact(s)" in result.stdout
    ws = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    assert ws.artifacts.sealed_with(good.digest) == ws.artifacts.envelope.provider.current("forgeml")
    ws.close()


def test_working_copies_are_private_to_the_process(sealed: Workspace) -> None:
    import os
    import stat

    from forgeml.security import plain_cache

    sealed.datasets.create("d", pd.DataFrame({"a": [1, 2]}))
    path = sealed.datasets.local_path("d")
    folder = plain_cache(sealed.home / "cache" / "datasets", sealed.artifacts.envelope)
    assert path.parent == folder and not path.is_relative_to(sealed.home)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # a forked job process gets a folder of its own
        other = plain_cache(sealed.home / "cache" / "datasets", sealed.artifacts.envelope)
        os.write(write, str(other).encode())
        os._exit(0)
    os.close(write)
    other = os.read(read, 4096).decode()
    os.waitpid(child, 0)
    assert other != str(folder) and Path(other).is_dir()  # the child ended with os._exit: no atexit
    from forgeml.security._seal import _sweep

    _sweep(Path(other).parent)  # the next process removes folders of processes that are gone
    assert not Path(other).exists() and folder.is_dir()
    assert plain_cache(sealed.home / "cache" / "x", None) == sealed.home / "cache" / "x"
