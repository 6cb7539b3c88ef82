"""A real process SIGKILLed mid-ingestion leaves only whole batches in both stores.

The test watches the writer's journal, freezes the process (SIGSTOP) while a batch is in flight
(between its journal entry and its end) and SIGKILLs it; where in the batch it lands depends on timing, so recovery may
either replay a committed batch online or discard an uncommitted one. Both outcomes are checked
deterministically in ``test_recovery_discards_uncommitted_files``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forgeml.core.workspace import Workspace
from forgeml.settings import Settings, load_settings

BATCH = 5000
SCRIPT = f"""
import time
import pandas as pd
from forgeml.core.workspace import Workspace
ws = Workspace(reconcile=False)
batch = 0
while True:
    ids = range(batch * {BATCH}, (batch + 1) * {BATCH})
    frame = pd.DataFrame({{"id": list(ids), "ts": [time.time()] * {BATCH}, "batch": [batch] * {BATCH}, "x": [float(i) for i in ids]}})
    ws.features.ingest("crash", frame, batch_size={BATCH})
    batch += 1
"""


def _kill_inside_a_batch(proc: subprocess.Popen, folder: Path) -> None:
    pending, commits = folder / "_pending", folder / "_commits"
    deadline = time.time() + 90
    while len(list(commits.glob("*.json"))) < 2:  # let two batches finish first
        assert time.time() < deadline and proc.poll() is None, "the ingesting process made no progress"
        time.sleep(0.005)
    while time.time() < deadline:
        if any(pending.glob("*.json")):
            # freeze it, and kill it only if the batch is still in flight once frozen
            os.kill(proc.pid, signal.SIGSTOP)
            if any(pending.glob("*.json")):
                break
            os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.0005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_sigkill_mid_ingestion_leaves_whole_batches(settings: Settings, backend: str, request: pytest.FixtureRequest) -> None:
    url = "sqlite" if backend == "sqlite" else request.getfixturevalue("redis_url")
    settings = load_settings(home=str(settings.home), online_store_url=url)
    ws = Workspace(settings)
    fs = ws.features
    fs.create_group("crash", record_identifier="id", event_time_feature="ts",
                    features=["id:Integral", "ts:Fractional", "batch:Integral", "x:Fractional"])  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], env={**os.environ, **settings.to_env()})
    try:
        _kill_inside_a_batch(proc, fs.offline("crash").dir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        # what each store holds before any recovery (reading files and records directly)
        files = fs.offline("crash").files()
        offline = pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()
        sizes = offline.groupby("batch").size()
        assert len(sizes) >= 2 and (sizes == BATCH).all(), f"partial batch offline: {sizes.to_dict()}"
        online_batches: dict[int, int] = {}
        for record in fs.online.scan("crash"):
            b = record.values()["batch"]
            online_batches[b] = online_batches.get(b, 0) + 1
        assert all(n == BATCH for n in online_batches.values()), f"partial batch online: {online_batches}"
        assert set(online_batches) <= set(sizes.index)
        # recovery finishes what was committed and removes what was not
        result = fs.recover("crash")
        assert result["replayed"] + result["discarded"] == 1, "the kill did not land inside a batch"
        if result["replayed"]:
            assert len(online_batches) == len(sizes) - 1  # the killed batch had reached the offline store only
        after = {r.values()["batch"] for r in fs.online.scan("crash")}
        assert after == set(sizes.index)
        assert not list(fs.offline("crash").pending.glob("*.json"))
        on_disk = {str(p) for p in Path(fs.offline("crash").dir).glob("event_date=*/*")}
        assert on_disk == set(fs.offline("crash").files())
        assert fs.check_consistency("crash")["consistent"]
    finally:
        fs.online.drop_group("crash")
        ws.close()


def test_recovery_discards_uncommitted_files(ws: Workspace) -> None:
    """A dead writer's batch: committed -> re-applied online; uncommitted -> files deleted."""
    import pandas as pd

    from forgeml.features._offline import write_json
    from forgeml.features._records import normalize, to_arrow

    fs = ws.features
    fs.create_group("rec", record_identifier="id", event_time_feature="ts", features=["id:Integral", "ts:Fractional"])
    store = fs.offline("rec")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    table = to_arrow(fs.get_group("rec"), normalize(fs.get_group("rec"), pd.DataFrame({"id": [1, 2], "ts": [time.time()] * 2})))
    n = table.num_rows
    ts = pa.array([1_700_000_000_000_000] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    full = table.append_column("api_invocation_time", ts).append_column("write_time", ts).append_column("is_deleted", pa.array([False] * n))
    for batch, commit in (("aaa", True), ("bbb", False)):
        write_json(store.pending / f"{batch}.json", {"batch": batch, "pid": dead.pid, "online": True})
        files = store.write_files(full, batch, "ts")
        if commit:
            store.commit(batch, files)
    assert len(list(store.dir.glob("event_date=*/*.parquet"))) == 2 and len(store.files()) == 1
    assert fs.recover("rec") == {"replayed": 1, "discarded": 1}
    assert len(list(store.dir.glob("event_date=*/*.parquet"))) == 1 and not list(store.pending.iterdir())
    assert {r.record_id for r in fs.online.scan("rec")} == {"1", "2"}
