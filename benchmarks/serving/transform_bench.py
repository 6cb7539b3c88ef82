"""Batch transform throughput against an in-process pandas chunk loop (the limit).

Model: a 20-feature HistGradientBoosting binary classifier (100 iterations), registered as a
ForgeML package. Data: ROWS rows of 20 float features as header-less CSV files.

Side by side, in one run:

* ``limit``: the frame already in memory, ``predict_proba`` on 10,000-row chunks in a loop
  (no parsing, no writing) -- the number the goal is measured against. It is run twice, with
  the default OpenMP threads and pinned to one thread, and the faster one counts (on a loaded
  machine unpinned OpenMP collapses; taking the better of the two keeps the goal strict);
* ``pandas_io_loop``: ``pd.read_csv(chunksize=...)`` -> ``predict_proba`` -> ``to_csv``, the
  same work a transform does, written the obvious way (one thread);
* ``transform``: a ForgeML batch transform job (SplitType Line, MultiRecord, 6 MB payloads,
  MaxConcurrentTransforms = cores, AssembleWith Line), timed end to end from ``create`` to
  Completed (job start-up and model load included) and inside the job (files only);
* ``transform_onnx``: the same job on the model compiled to ONNX (for reference).

Goal: transform rows/s >= 0.8 x the limit. Usage: ``python transform_bench.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "transform.json"
FEATURES = [f"x{i}" for i in range(20)]


def make_data(rows: int, folder: Path, files: int) -> tuple[object, object]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    train = rng.normal(size=(50_000, 20))
    y = (train[:, 0] + train[:, 1] * train[:, 2] - train[:, 3] + rng.normal(scale=0.5, size=len(train)) > 0).astype(int)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # unpinned OpenMP collapses on a loaded 2-core machine
        model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(pd.DataFrame(train, columns=FEATURES), y)
    X = pd.DataFrame(rng.normal(size=(rows, 20)).round(6), columns=FEATURES)
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(rows), files)):
        table = pa.Table.from_pandas(X.iloc[part], preserve_index=False)
        pacsv.write_csv(table, folder / f"part-{i:02d}.csv", pacsv.WriteOptions(include_header=False))
    return model, X


def limit_loop(model: object, X: object, chunk: int = 10_000) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(X), chunk):  # type: ignore[arg-type]
        model.predict_proba(X.iloc[start : start + chunk])  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def pandas_io_loop(model: object, folder: Path, out: Path, chunk: int = 10_000) -> float:
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for file in sorted(folder.iterdir()):
        with open(out / (file.name + ".out"), "w") as fh:
            for part in pd.read_csv(file, header=None, names=FEATURES, chunksize=chunk):
                proba = model.predict_proba(part)  # type: ignore[attr-defined]
                pd.DataFrame({"label": proba.argmax(axis=1), "p": proba.max(axis=1), "s": proba[:, 1]}).to_csv(fh, header=False, index=False)
    return time.perf_counter() - t0


def run_transform(ws: object, model_ref: str, folder: Path, out: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    job = ws.transforms.create(  # type: ignore[attr-defined]
        model_ref, [folder], output_path=out, split_type="Line", batch_strategy="MultiRecord",
        assemble_with="Line", wait=True, timeout=3600,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    report = ws.transforms.report(job.name)  # type: ignore[attr-defined]
    return {"wall_s": wall, "inside_job_s": report["seconds"], "records": report["records"], "status": job.status}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved limit/transform rounds; best of each")
    args = parser.parse_args()

    from forgeml.core.workspace import Workspace
    from forgeml.registry import save_model
    from forgeml.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="forgeml-transform-bench-"))
    try:
        ws = Workspace(load_settings(home=str(work / "ws")))
        t0 = time.perf_counter()
        model, X = make_data(args.rows, work / "in", args.files)
        prep_s = time.perf_counter() - t0
        save_model(model, work / "pkg", task="binary", inputs=[{"name": c, "type": "float64"} for c in FEATURES])
        ws.registry.register("bench", work / "pkg")
        ws.registry.compile("bench", 1, holdout=X.head(2000))  # type: ignore[attr-defined]
        input_mb = sum(f.stat().st_size for f in (work / "in").iterdir()) / 1e6

        from threadpoolctl import threadpool_limits

        limit_default_s = limit_loop(model, X)
        with threadpool_limits(limits=1):
            io_s = pandas_io_loop(model, work / "in", work / "pandas-out")
        # the machine is shared: interleave the limit and the transform and keep each one's best
        pinned, runs, onnx_runs = [], [], []
        for i in range(args.rounds):
            with threadpool_limits(limits=1):
                pinned.append(limit_loop(model, X))
            runs.append(run_transform(ws, "bench:1", work / "in", work / f"out-{i}"))
            onnx_runs.append(run_transform(ws, "bench:2", work / "in", work / f"out-onnx-{i}"))
        limit_pinned_s = min(pinned)
        limit_s = min(limit_default_s, limit_pinned_s)
        tr = min(runs, key=lambda r: r["wall_s"])
        onnx = min(onnx_runs, key=lambda r: r["wall_s"])
        outputs = sorted((work / "out-0").iterdir())
        assert len(outputs) == args.files and tr["records"] == args.rows, (outputs, tr)
        ws.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rps = {"limit": args.rows / limit_s, "pandas_io_loop": args.rows / io_s,
           "transform_end_to_end": args.rows / tr["wall_s"], "transform_inside_job": args.rows / tr["inside_job_s"],
           "transform_onnx_end_to_end": args.rows / onnx["wall_s"], "transform_onnx_inside_job": args.rows / onnx["inside_job_s"]}  # fmt: skip
    ratio = rps["transform_end_to_end"] / rps["limit"]
    result = {
        "benchmark": "transform",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "versions": {p: version(p) for p in ("forgeml", "scikit-learn", "pandas", "pyarrow", "numpy", "onnxruntime", "skl2onnx")},
        "setup": {"rows": args.rows, "files": args.files, "features": 20, "input_mb": round(input_mb, 1),
                  "model": "HistGradientBoostingClassifier(max_iter=100)", "data_prep_s": round(prep_s, 2),
                  "transform": "split Line, MultiRecord, 6 MB payloads, MaxConcurrentTransforms = cores, AssembleWith Line"},
        "seconds": {"limit": limit_s, "limit_default_threads": limit_default_s, "limit_one_thread": limit_pinned_s, "pandas_io_loop": io_s, "transform_end_to_end": tr["wall_s"],
                    "transform_inside_job": tr["inside_job_s"], "transform_onnx_end_to_end": onnx["wall_s"],
                    "transform_onnx_inside_job": onnx["inside_job_s"]},
        "rows_per_second": {k: round(v) for k, v in rps.items()},
        "goal": "transform rows/s (end to end) >= 0.8 x the in-process in-memory chunk loop",
        "ratio_end_to_end": round(ratio, 3),
        "ratio_inside_job": round(rps["transform_inside_job"] / rps["limit"], 3),
        "verdict": "met" if ratio >= 0.8 else "not met",
        "reduced_size": args.rows < 1_000_000,
        "rounds": args.rounds,
        "all_runs_s": {"limit_one_thread": pinned, "transform_end_to_end": [r["wall_s"] for r in runs],
                       "transform_onnx_end_to_end": [r["wall_s"] for r in onnx_runs]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
