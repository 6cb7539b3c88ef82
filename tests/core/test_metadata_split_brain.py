"""Acknowledged writes survive SQLite's same-process lock pitfall (issue 11, item 4).

Closing any handle of ``forgeml.db`` in a process drops that process's POSIX locks on it; the
next process to close the store then deletes the WAL and the first process writes into the
deleted file. Two depths: sources inside the workspace are refused, so ForgeML never opens the
database through another handle (end to end, with a real server and the CLI); and the store
itself refuses to write once its files were replaced (simulated with a plain ``open``/``close``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from forgeml.core.metadata import SqlMetadataStore
from forgeml.core.records import ResourceRecord
from forgeml.errors import BackendUnavailableError
from forgeml.settings import Settings

WRITE = """
import sys
from forgeml.core.metadata import SqlMetadataStore
from forgeml.core.records import ResourceRecord
store = SqlMetadataStore(sys.argv[1])
store.create_resource(ResourceRecord(kind="note", name=sys.argv[2], version=1, status="ok", spec={}, data={}, tags={}))
store.close()
"""
NAMES = """
import sys
from forgeml.core.metadata import SqlMetadataStore
print(",".join(sorted(r.name for r in SqlMetadataStore(sys.argv[1]).list_resources("note"))))
"""


def _note(name: str) -> ResourceRecord:
    return ResourceRecord(kind="note", name=name, version=1, status="ok", spec={}, data={}, tags={})


def _other_process(code: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, timeout=120).stdout.strip()


def test_store_refuses_to_write_into_a_deleted_wal(tmp_path: Path) -> None:
    db = tmp_path / "ws" / "forgeml.db"
    url = f"sqlite:///{db}"
    store = SqlMetadataStore(url)
    try:
        store.create_resource(_note("before"))
        _other_process(WRITE, url, "neighbour")  # another process that closes cleanly: harmless
        store.create_resource(_note("still-fine"))
        with open(db, "rb") as fh:  # the pitfall: another handle on the database, closed
            fh.read(100)
        _other_process(WRITE, url, "other")  # believes it is alone: checkpoints and deletes the WAL
        assert not Path(f"{db}-wal").exists()
        with pytest.raises(BackendUnavailableError, match=r"forgeml.db-wal.* no longer the file this process opened"):
            store.create_resource(_note("lost"))
        with pytest.raises(BackendUnavailableError, match="restart this process"):  # and every later transaction
            store.list_resources("note")
        _other_process(WRITE, url, "later")
        assert _other_process(NAMES, url) == "before,later,neighbour,other,still-fine"
    finally:
        store.close()
    assert _other_process(NAMES, url) == "before,later,neighbour,other,still-fine"


def test_concurrent_processes_do_not_trip_the_check(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'forgeml.db'}"
    store = SqlMetadataStore(url)
    try:
        for i in range(3):
            store.create_resource(_note(f"mine-{i}"))
            _other_process(WRITE, url, f"theirs-{i}")
        assert len(store.list_resources("note")) == 6
    finally:
        store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "forgeml", "server", "--port", str(port)], env=env,
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.2)


def test_acknowledged_uploads_survive_a_server_reading_its_own_database(settings: Settings) -> None:
    """The issue's reproduction: the server is asked to read forgeml.db, a CLI command runs, an
    upload is answered 201, the server dies; after the restart the upload must be there."""
    home = settings.resolved_home
    # the operator allowed the folder that holds the workspace (h11-paths' policy would refuse these
    # paths before the guard otherwise): the workspace's own files must still be refused
    env = {**os.environ, **settings.to_env(), "FORGEML_ALLOWED_DATA_ROOTS": str(home.parent)}
    port = _free_port()
    server = _start_server(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        up = httpx.post(f"{base}/datasets/loans/upload", params={"filename": "loans.csv"}, content=b"id,amount\n1,10\n2,20\n", timeout=60)
        assert up.status_code == 201, up.text
        db = home / "forgeml.db"
        link = home.parent / "innocent.csv"
        link.symlink_to(db)
        answers = []
        for source in (str(db), f"sqlite:///{db}", str(link), f"{home}/../{home.name}/forgeml.db-wal", f"{home}/*.db"):
            body = {"source": source, "name": "own", "format": "csv", **({"table": "resources"} if "sqlite" in source else {})}
            answers.append(httpx.post(f"{base}/datasets/ingest", json=body, timeout=60))
        rule = {"rule": "CustomSQL", "sql": f"select length(content) from read_blob('{db}')", "condition": "> 0"}
        answers.append(httpx.post(f"{base}/datasets/loans/validate", json={"rules": [rule]}, timeout=60))
        cli = subprocess.run([sys.executable, "-m", "forgeml", "data", "ls", "--json"], env=env, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
        after = httpx.post(f"{base}/datasets/after/upload", params={"filename": "after.csv"}, content=b"id\n1\n", timeout=60)
        assert after.status_code == 201, after.text
    finally:
        server.send_signal(signal.SIGKILL)  # a crash: nothing gets to checkpoint on the way out
        server.wait(timeout=30)
    listed = subprocess.run([sys.executable, "-m", "forgeml", "data", "ls", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert '"after"' in listed.stdout and '"loans"' in listed.stdout  # on main: "after" was lost
    assert [a.status_code for a in answers] == [403] * 6, [a.text for a in answers]
    assert all("may read only the data it is given" in a.text or "own files cannot be read as data" in a.text for a in answers)
