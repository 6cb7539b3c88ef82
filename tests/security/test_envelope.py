"""Encryption at rest: envelope format, key file, environment keys, plug-ins, rotation, tamper detection."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from forgeml.core.workspace import Workspace
from forgeml.errors import CorruptArtifactError, ForbiddenError, NotFoundError, ValidationError
from forgeml.security import (
    CHUNK,
    MAGIC,
    Envelope,
    EnvKeyProvider,
    FileKeyProvider,
    is_sealed,
    key_provider,
)
from forgeml.settings import Settings


def _env_key(seed: int) -> str:
    return base64.b64encode(hashlib.sha256(f"test-key-{seed}".encode()).digest()).decode()


@pytest.fixture
def file_envelope(tmp_path: Path) -> Envelope:
    return Envelope(FileKeyProvider(tmp_path / "keys" / "master.json"), "forgeml")


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7])
def test_round_trip_across_chunk_edges(file_envelope: Envelope, size: int) -> None:
    data = random.Random(size).randbytes(size)
    sealed = file_envelope.seal_bytes(data, "artifact:x")
    assert is_sealed(sealed) and (size < 16 or data not in sealed)
    assert file_envelope.open_bytes(sealed, "artifact:x", "artifact x") == data


@hsettings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(pieces=st.lists(st.binary(max_size=3000), max_size=6))
def test_round_trip_any_pieces(file_envelope: Envelope, pieces: list[bytes]) -> None:
    sealed = b"".join(file_envelope.seal_chunks(iter(pieces), "ctx"))
    assert file_envelope.open_bytes(sealed, "ctx", "o") == b"".join(pieces)


def test_each_object_gets_its_own_data_key(file_envelope: Envelope) -> None:
    a, b = (file_envelope.seal_bytes(b"same plaintext", "ctx") for _ in range(2))
    assert a != b
    assert file_envelope.open_bytes(a, "ctx", "a") == file_envelope.open_bytes(b, "ctx", "b") == b"same plaintext"


@pytest.mark.parametrize("where", ["header", "body", "tag"])
def test_one_flipped_byte_fails_naming_the_object(file_envelope: Envelope, where: str) -> None:
    sealed = bytearray(file_envelope.seal_bytes(b"x" * 5000, "ctx"))
    index = {"header": 30, "body": len(sealed) - 100, "tag": len(sealed) - 1}[where]
    sealed[index] ^= 0x01
    with pytest.raises(CorruptArtifactError, match="object 7"):
        file_envelope.open_bytes(bytes(sealed), "ctx", "object 7")


def test_truncated_or_reordered_chunks_fail(file_envelope: Envelope) -> None:
    sealed = file_envelope.seal_bytes(random.Random(3).randbytes(3 * CHUNK), "ctx")
    body_start = len(sealed) - (3 * CHUNK + 3 * 16)
    head, body = sealed[:body_start], sealed[body_start:]
    block = CHUNK + 16
    chunks = [body[i : i + block] for i in range(0, len(body), block)]
    with pytest.raises(CorruptArtifactError, match="altered or cut"):
        file_envelope.open_bytes(head + b"".join(chunks[:2]), "ctx", "o")  # tail dropped
    with pytest.raises(CorruptArtifactError, match="altered or cut"):
        file_envelope.open_bytes(head + chunks[1] + chunks[0] + chunks[2], "ctx", "o")


def test_a_wrapped_key_moved_to_another_object_fails(file_envelope: Envelope) -> None:
    sealed = file_envelope.seal_bytes(b"secret", "artifact:a")
    with pytest.raises(CorruptArtifactError, match="wrapped data key"):
        file_envelope.open_bytes(sealed, "artifact:b", "artifact b")


def test_key_file_is_created_0600_and_loose_modes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.json"
    env = Envelope(FileKeyProvider(path))
    sealed = env.seal_bytes(b"data", "ctx")
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    with pytest.raises(ForbiddenError, match=r"key file .*master.json has mode 0644.*chmod 600"):
        Envelope(FileKeyProvider(path)).open_bytes(sealed, "ctx", "o")


def test_rotation_keeps_old_data_readable_and_seals_new_data_with_the_new_key(tmp_path: Path) -> None:
    provider = FileKeyProvider(tmp_path / "master.json")
    env = Envelope(provider, "team")
    old = env.seal_bytes(b"old", "ctx")
    first = provider.current("team")
    second = provider.rotate("team")
    assert second != first and provider.current("team") == second
    new = env.seal_bytes(b"new", "ctx")
    assert Envelope.read_header(io.BytesIO(old), "old").key_id == first
    assert Envelope.read_header(io.BytesIO(new), "new").key_id == second
    assert env.open_bytes(old, "ctx", "old") == b"old"
    described = provider.describe()
    assert described["aliases"] == {"team": second}
    assert [k["id"] for k in described["keys"]] == [first, second]
    assert "material" not in str(described)


def test_environment_keys_first_encrypts_all_decrypt() -> None:
    old = Envelope(EnvKeyProvider(_env_key(1)))
    sealed_old = old.seal_bytes(b"before rotation", "ctx")
    both = Envelope(EnvKeyProvider(f"{_env_key(2)},{_env_key(1)}"))
    assert both.open_bytes(sealed_old, "ctx", "o") == b"before rotation"
    sealed_new = both.seal_bytes(b"after", "ctx")
    with pytest.raises(NotFoundError, match="FORGEML_MASTER_KEY"):
        old.open_bytes(sealed_new, "ctx", "artifact n")


@pytest.mark.parametrize(("value", "message"), [("not base64!", "base64"), (base64.b64encode(b"short").decode(), "32 bytes")])
def test_bad_environment_keys(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EnvKeyProvider(value)


def test_provider_choice(settings: Settings, tmp_path: Path) -> None:
    assert isinstance(key_provider(settings, {}), FileKeyProvider)
    assert isinstance(key_provider(settings, {"FORGEML_MASTER_KEY": _env_key(3)}), EnvKeyProvider)
    inside = settings.model_copy(update={"encryption_key_file": Path(settings.resolved_artifact_uri) / "k.json"})
    with pytest.raises(ValidationError, match="inside the artifact folder"):
        key_provider(inside, {})


def test_key_provider_plugin_through_a_real_entry_point(settings: Settings, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    site = tmp_path / "site"
    (site / "fg_test_kms-1.0.dist-info").mkdir(parents=True)
    (site / "fg_test_kms-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: fg-test-kms\nVersion: 1.0\n")
    (site / "fg_test_kms-1.0.dist-info" / "entry_points.txt").write_text(
        "[forgeml.key_providers]\ntest-kms = fg_test_kms:make\n"
    )
    (site / "fg_test_kms.py").write_text(
        "from forgeml.security import EnvKeyProvider\n"
        f"def make(settings):\n    return EnvKeyProvider({_env_key(9)!r})\n"
    )
    monkeypatch.syspath_prepend(str(site))
    chosen = settings.model_copy(update={"encryption_key_provider": "test-kms"})
    provider = key_provider(chosen, {})
    assert isinstance(provider, EnvKeyProvider)
    sys.modules.pop("fg_test_kms", None)
    missing = settings.model_copy(update={"encryption_key_provider": "nope"})
    with pytest.raises(ValidationError, match="no entry point"):
        key_provider(missing, {})


# the artifact store ------------------------------------------------------------------------------


@pytest.fixture
def sealed_ws(settings: Settings) -> Workspace:
    workspace = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    yield workspace  # type: ignore[misc]
    workspace.close()


def test_artifacts_are_sealed_on_disk_and_addressed_by_plaintext(sealed_ws: Workspace) -> None:
    data = b"loan model weights " * 1000
    rec = sealed_ws.artifacts.put_bytes(data)
    assert rec.digest == hashlib.sha256(data).hexdigest() and rec.size == len(data)
    raw = Path(sealed_ws.artifacts._path(rec.digest)).read_bytes()
    assert raw.startswith(MAGIC) and b"loan model" not in raw
    assert sealed_ws.artifacts.read_bytes(rec.digest) == data
    assert sealed_ws.artifacts.put_bytes(data).digest == rec.digest  # dedup unchanged
    assert sealed_ws.artifacts.sealed_with(rec.digest) == sealed_ws.artifacts.envelope.provider.current("forgeml")


def test_flip_one_byte_of_an_encrypted_artifact(sealed_ws: Workspace, tmp_path: Path) -> None:
    rec = sealed_ws.artifacts.put_bytes(b"precious model" * 100)
    path = Path(sealed_ws.artifacts._path(rec.digest))
    raw = bytearray(path.read_bytes())
    raw[-40] ^= 0x80
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptArtifactError, match=f"artifact {rec.digest} .*failed decryption"):
        sealed_ws.artifacts.read_bytes(rec.digest)
    with pytest.raises(CorruptArtifactError, match=rec.digest):
        sealed_ws.artifacts.get_file(rec.digest, tmp_path / "out" / "model.bin")
    assert not list((tmp_path / "out").iterdir())  # nothing half-written


def test_plain_artifacts_stay_readable_and_reencrypt_seals_them(settings: Settings) -> None:
    plain = Workspace(settings)
    old = plain.artifacts.put_bytes(b"written before encryption was on")
    plain.close()
    sealed = Workspace(settings.model_copy(update={"encryption_at_rest": True}))
    assert sealed.artifacts.sealed_with(old.digest) is None
    assert sealed.artifacts.read_bytes(old.digest) == b"written before encryption was on"
    assert sealed.artifacts.reencrypt(old.digest) is True
    assert sealed.artifacts.reencrypt(old.digest) is False
    assert sealed.artifacts.sealed_with(old.digest) is not None
    assert sealed.artifacts.read_bytes(old.digest) == b"written before encryption was on"
    sealed.close()
    again = Workspace(settings)  # encryption off again: a clear error, not garbage
    with pytest.raises(ValidationError, match="is encrypted: turn encryption_at_rest on"):
        again.artifacts.read_bytes(old.digest)
    again.close()


def test_rotate_then_reencrypt_moves_artifacts_to_the_new_key(sealed_ws: Workspace) -> None:
    store = sealed_ws.artifacts
    rec = store.put_bytes(b"v1")
    first = store.sealed_with(rec.digest)
    second = store.envelope.provider.rotate("forgeml")
    assert store.read_bytes(rec.digest) == b"v1"  # old key still decrypts
    assert store.sealed_with(store.put_bytes(b"v2").digest) == second
    assert store.reencrypt(rec.digest) is True
    assert store.sealed_with(rec.digest) == second != first
    assert store.read_bytes(rec.digest) == b"v1"


def test_fsspec_memory_store_seals_too(settings: Settings) -> None:
    from forgeml.core.artifacts import ArtifactStore
    from forgeml.security import envelope_for

    ws = Workspace(settings)
    store = ArtifactStore("memory://sealed-test", ws.metadata, envelope_for(settings.model_copy(update={"encryption_at_rest": True})))
    rec = store.put_bytes(b"in memory")
    with store.fs.open(store._path(rec.digest), "rb") as fh:
        assert fh.read(len(MAGIC)) == MAGIC
    assert store.read_bytes(rec.digest) == b"in memory"
    ws.close()


def test_aliases_are_independent(tmp_path: Path) -> None:
    provider = FileKeyProvider(tmp_path / "master.json")
    team, ops = Envelope(provider, "team"), Envelope(provider, "ops")
    sealed = team.seal_bytes(b"team data", "ctx")
    assert provider.current("team") != provider.current("ops")
    before = provider.current("team")
    provider.rotate("ops")
    assert provider.current("team") == before
    assert ops.open_bytes(sealed, "ctx", "o") == b"team data"  # any key in the file opens what it sealed
    assert FileKeyProvider(tmp_path / "master.json", create=False).current("team") == before
    with pytest.raises(NotFoundError, match="key alias 'nope'"):
        FileKeyProvider(tmp_path / "master.json", create=False).current("nope")


def test_settings_travel_to_child_processes_and_aliases_are_checked(settings: Settings, tmp_path: Path) -> None:
    from forgeml.settings import load_settings

    on = settings.model_copy(update={"encryption_at_rest": True, "encryption_key_file": tmp_path / "k.json",
                                     "encryption_key_alias": "team-a"})  # fmt: skip
    env = on.to_env()
    assert env["FORGEML_ENCRYPTION_AT_REST"] == "true" and env["FORGEML_ENCRYPTION_KEY_ALIAS"] == "team-a"
    assert env["FORGEML_ENCRYPTION_KEY_FILE"] == str((tmp_path / "k.json").resolve())
    assert "FORGEML_MASTER_KEY" not in env  # key material is never copied into settings or records
    with pytest.raises(ValidationError, match="invalid setting encryption_key_alias"):
        load_settings(encryption_key_alias="../evil")
