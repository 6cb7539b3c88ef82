"""Lineage: datasets and jobs that fed each feature-group version; training sets from versions."""

from __future__ import annotations

import time

import pandas as pd

from forgeml.core.workspace import Workspace


def test_dataset_and_job_lineage(ws: Workspace) -> None:
    now = time.time()
    frame = pd.DataFrame({"id": [1, 2, 3], "ts": [now - 3, now - 2, now - 1], "x": [0.1, 0.2, 0.3]})
    ds = ws.datasets.create("raw", frame)
    ws.features.create_group("g", record_identifier="id", event_time_feature="ts", features=frame)
    ws.features.ingest("g", "raw:1")
    ws.features.add_features("g", ["y:Integral"])
    job = ws.features.submit_ingest("g", "raw", batch_size=2)
    done = ws.jobs.wait(job.name, timeout=120)
    assert done.status == "Completed", ws.jobs.logs(job.name)
    v1 = {(e.src, e.relation) for e in ws.metadata.list_edges(dst="feature-group/g:1")}
    v2 = {(e.src, e.relation) for e in ws.metadata.list_edges(dst="feature-group/g:2")}
    assert (ds.ref, "ingested") in v1
    assert (f"job/{job.name}", "ingested") in v2 and (ds.ref, "ingested") in v2
    assert ds.ref in {e.src for e in ws.metadata.list_edges(dst=f"job/{job.name}")}
    assert [m.value for m in ws.jobs.metrics(job.name, "rows_ingested")][-1] == 3
    assert len(ws.features.offline_rows("g")) == 6
    ts = ws.features.build_training_set(frame[["id", "ts"]], ["g:x"], event_time_column="ts", name="train")
    upstream = ws.lineage.upstream(ts.dataset.ref).refs()
    assert {"feature-group/g:2", ds.ref, f"job/{job.name}"} <= upstream
