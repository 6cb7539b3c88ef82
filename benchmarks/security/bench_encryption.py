"""Encryption at rest (issue 14 item 4): the cost of sealing, side by side in one run.

Interleaved rounds, plain workspace then sealed workspace each round, same data:

1. artifact ``put_file`` and ``read_bytes`` of a 32 MiB blob (fresh bytes each round, so no
   deduplication), MB/s;
2. dataset ``create`` and ``read`` of a 200,000-row frame (a first read: the working copy is made).

Writes ``benchmarks/results/security.json`` with machine, versions, load and date.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results" / "security.json"
ROUNDS = 5
BLOB = 32 << 20
ROWS = 200_000


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    import numpy as np
    import pandas as pd

    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    rng = random.Random(14)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        spaces = {
            "plain": Workspace(load_settings(home=f"{tmp}/plain")),
            "sealed": Workspace(load_settings(home=f"{tmp}/sealed", encryption_at_rest=True)),
        }
        gen = np.random.default_rng(14)
        frame = pd.DataFrame({"id": np.arange(ROWS), "x": gen.normal(size=ROWS), "s": gen.choice(["a", "b", "c"], ROWS)})
        for r in range(ROUNDS):
            blob = Path(tmp) / f"blob-{r}.bin"
            blob.write_bytes(rng.randbytes(BLOB))
            for mode, ws in spaces.items():
                dt, rec = _timed(lambda ws=ws, b=blob: ws.artifacts.put_file(b))
                times.setdefault(f"{mode}_artifact_put_s", []).append(dt)
                dt, _ = _timed(lambda ws=ws, d=rec.digest: ws.artifacts.read_bytes(d))
                times.setdefault(f"{mode}_artifact_read_s", []).append(dt)
                dt, ds = _timed(lambda ws=ws, r=r: ws.datasets.create(f"bench-{r}", frame.assign(round=r)))
                times.setdefault(f"{mode}_dataset_create_s", []).append(dt)
                dt, _ = _timed(lambda ws=ws, ds=ds: ws.datasets.read(ds))
                times.setdefault(f"{mode}_dataset_first_read_s", []).append(dt)
        for ws in spaces.values():
            ws.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    results: dict[str, object] = {k: {"median_s": med[k], "min_s": min(v), "max_s": max(v)} for k, v in times.items()}
    for what in ("artifact_put", "artifact_read"):
        results[f"{what}_MBps"] = {m: BLOB / (1 << 20) / med[f"{m}_{what}_s"] for m in ("plain", "sealed")}
    ratios = {what: med[f"sealed_{what}_s"] / med[f"plain_{what}_s"]
              for what in ("artifact_put", "artifact_read", "dataset_create", "dataset_first_read")}  # fmt: skip
    out = {
        "benchmark": "security",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1_5_15": list(os.getloadavg())},
        "versions": {p: version(p) for p in ("forgeml", "cryptography", "pyarrow", "pandas")},
        "rounds": ROUNDS, "blob_bytes": BLOB, "dataset_rows": ROWS,
        "results": results,
        "sealed_over_plain_time_ratio": ratios,
        "notes": "interleaved rounds (plain then sealed, same bytes); medians. Sealed = AES-256-GCM envelope "
                 "encryption in 1 MiB chunks plus the sha256 verification both modes do.",
    }
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"ratios": ratios, "MBps": {k: v for k, v in results.items() if k.endswith("MBps")}}, indent=2))


if __name__ == "__main__":
    main()
