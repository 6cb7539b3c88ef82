"""Feature store benchmark: ForgeML vs Feast vs plain DuckDB, side by side in one run.

* Point-in-time join of 1,000,000 label rows against a 1,000,000-row feature group with 10
  features: wall time and peak memory (each system in its own process, so peak RSS is its own),
  and the same rows as plain DuckDB and as a brute-force reference on a sample.
* Online get of 1 and of 100 records: p50 / p99 latency in-process.

Feast runs from its own virtual environment (``benchmarks/.work/feast-venv``, see
``feast_bench.py``). Results: ``benchmarks/results/features.json``.

    .venv/bin/python benchmarks/features/bench_features.py [--rows N] [--labels N]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _data  # noqa: E402

RESULTS = HERE.parent / "results" / "features.json"
FEAST_PY = HERE.parent / ".work" / "feast-venv" / "bin" / "python"
FEATURES = [f"f{i}" for i in range(_data.N_FEATURES)]
REPEAT = 3


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _percentiles(samples: list[float]) -> dict[str, float]:
    import numpy as np

    arr = np.array(samples) * 1e6
    return {"p50_us": round(float(np.percentile(arr, 50)), 1), "p99_us": round(float(np.percentile(arr, 99)), 1),
            "mean_us": round(float(arr.mean()), 1), "n": len(samples)}  # fmt: skip


# --- children: each runs in its own process and prints one JSON line -------------------------
def child_forgeml_pit(features: Path, labels: Path, out: Path) -> dict:
    import pandas as pd

    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    home = _data.WORK / "forgeml-ws"
    shutil.rmtree(home, ignore_errors=True)
    ws = Workspace(load_settings(home=str(home)))
    frame = pd.read_parquet(features)
    fs = ws.features
    fs.create_group("bench", record_identifier="entity_id", event_time_feature="event_timestamp", features=frame)
    t0 = time.perf_counter()
    fs.ingest("bench", frame, batch_size=250_000, target_stores=["offline"])
    ingest_s = time.perf_counter() - t0
    fs.compact("bench")
    files = len(fs.offline("bench").files())
    del frame
    entity = pd.read_parquet(labels)
    before = _peak_mb()
    runs = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        result = fs.build_training_set(entity, ["bench"], event_time_column="event_timestamp").frame
        runs.append(time.perf_counter() - t0)
    result.to_parquet(out, index=False)
    return {"seconds": round(min(runs), 3), "runs_seconds": [round(r, 3) for r in runs], "peak_rss_mb": _peak_mb(),
            "rss_before_join_mb": before, "rows": len(result), "offline_ingest_seconds": round(ingest_s, 2),
            "offline_files": files}  # fmt: skip


def child_duckdb_pit(features: Path, labels: Path, out: Path) -> dict:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    entity = pq.read_table(labels)
    entity = entity.append_column("r", pa.array(range(entity.num_rows), pa.int64()))
    before = _peak_mb()
    cols = ", ".join(f"f.{c}" for c in FEATURES)
    runs = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        conn = duckdb.connect()
        conn.execute("SET TimeZone = 'UTC'")
        conn.register("labels", entity)
        result = conn.sql(
            f"SELECT l.entity_id, l.event_timestamp, l.label, {cols} FROM labels l "
            f"ASOF LEFT JOIN read_parquet('{features}') f ON l.entity_id = f.entity_id AND l.event_timestamp >= f.event_timestamp "
            "ORDER BY l.r"
        ).to_arrow_table().to_pandas()
        conn.close()
        runs.append(time.perf_counter() - t0)
    result.to_parquet(out, index=False)
    return {"seconds": round(min(runs), 3), "runs_seconds": [round(r, 3) for r in runs], "peak_rss_mb": _peak_mb(),
            "rss_before_join_mb": before, "rows": len(result)}


def child_forgeml_online(features: Path, backend: str) -> dict:
    import pandas as pd

    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    home = _data.WORK / f"forgeml-online-{backend}"
    shutil.rmtree(home, ignore_errors=True)
    url = "sqlite" if backend == "sqlite" else "redis://127.0.0.1:6379/0"
    ws = Workspace(load_settings(home=str(home), online_store_url=url))
    frame = pd.read_parquet(features).head(100_000)
    fs = ws.features
    fs.create_group("online", record_identifier="entity_id", event_time_feature="event_timestamp", features=frame)
    fs.ingest("online", frame, target_stores=["online"])
    ids = frame["entity_id"].unique().tolist()
    import random

    rnd = random.Random(1)
    for _ in range(500):  # warm-up
        fs.get_record("online", rnd.choice(ids))
    one = []
    for _ in range(20_000):
        rid = rnd.choice(ids)
        t0 = time.perf_counter()
        fs.get_record("online", rid)
        one.append(time.perf_counter() - t0)
    hundred = []
    for _ in range(1_000):
        batch = rnd.sample(ids, 100)
        t0 = time.perf_counter()
        fs.batch_get("online", batch)
        hundred.append(time.perf_counter() - t0)
    if backend == "redis":
        fs.online.drop_group("online")
    return {"get_1": _percentiles(one), "get_100": _percentiles(hundred), "records": len(ids)}


# --- orchestration ----------------------------------------------------------------------------
def _run(cmd: list[str], timeout: float, key: str | None = None, reuse: bool = False) -> dict:
    saved = _data.WORK / f"result-{key}.json"
    if key and reuse and saved.exists():
        return json.loads(saved.read_text())
    out = _run_once(cmd, timeout)
    if key:
        saved.write_text(json.dumps(out))
    return out


def _run_once(cmd: list[str], timeout: float) -> dict:
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        return {"error": f"exit {proc.returncode}", "stderr_tail": tail, "wall_seconds": round(time.time() - t0, 1)}
    return json.loads(lines[-1])


def _compare(a: Path, b: Path, keys: list[str]) -> dict:
    import pandas as pd

    left, right = pd.read_parquet(a), pd.read_parquet(b)
    same_len = len(left) == len(right)
    diff = 0
    if same_len:
        for c in keys:
            lv, rv = left[c].to_numpy(dtype="float64", na_value=float("nan")), right[c].to_numpy(dtype="float64", na_value=float("nan"))
            both_nan = pd.isna(lv) & pd.isna(rv)
            diff += int(((lv != rv) & ~both_nan).sum())
    return {"same_row_count": same_len, "differing_values": diff if same_len else None, "identical": same_len and diff == 0}


def _brute_force(features: Path, labels: Path, result: Path, sample: int = 2_000) -> dict:
    """Per sampled label row: scan every feature row of its id, keep the latest at or before it.

    A result with an ``r`` column (label row number) is aligned on it; rows it lacks are counted
    as dropped.
    """
    import numpy as np
    import pandas as pd

    feats = pd.read_parquet(features)
    labs = pd.read_parquet(labels)
    got = pd.read_parquet(result)
    got = got.set_index("r") if "r" in got.columns else got
    rows = np.random.default_rng(3).choice(len(labs), size=min(sample, len(labs)), replace=False)
    wanted_ids = set(labs["entity_id"].iloc[rows])
    sub = feats[feats["entity_id"].isin(wanted_ids)]
    by_id = {k: g for k, g in sub.groupby("entity_id")}
    mismatches = matched = dropped = 0
    for r in rows:
        lab = labs.iloc[r]
        cand = by_id.get(lab["entity_id"])
        expect = None
        if cand is not None:
            ok = cand[cand["event_timestamp"] <= lab["event_timestamp"]]
            if len(ok):
                expect = ok.loc[ok["event_timestamp"].idxmax(), FEATURES].to_numpy(dtype="float64")
        if r not in got.index:
            dropped += 1
            continue
        actual = got.loc[r, FEATURES].to_numpy(dtype="float64", na_value=np.nan)
        if expect is None:
            mismatches += int(not np.isnan(actual).all())
        else:
            matched += 1
            mismatches += int(not np.array_equal(expect, actual))
    return {"sample_rows": len(rows), "rows_with_a_match": matched, "mismatches": mismatches, "rows_dropped": dropped}


def _install_feast() -> str | None:
    """Create the Feast venv (Feast pins pandas < 3, so it stays out of .venv); None on success."""
    venv = FEAST_PY.parents[1]
    steps = [[sys.executable, "-m", "venv", str(venv)],
             [str(FEAST_PY), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements-feast.txt")]]  # fmt: skip
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            return f"could not install Feast ({' '.join(cmd[-3:])}): {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("child", nargs="?")
    parser.add_argument("--rows", type=int, default=_data.N_FEATURES_ROWS)
    parser.add_argument("--labels", type=int, default=_data.N_LABELS)
    parser.add_argument("--skip-feast", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="Reuse child results saved by an earlier run.")
    args = parser.parse_args()
    features, labels = _data.make(args.rows, args.labels)
    work = _data.WORK
    if args.child:
        kind, *rest = args.child.split(":")
        if kind == "pit-forgeml":
            print(json.dumps(child_forgeml_pit(features, labels, work / "out-forgeml.parquet")))
        elif kind == "pit-duckdb":
            print(json.dumps(child_duckdb_pit(features, labels, work / "out-duckdb.parquet")))
        elif kind == "online-forgeml":
            print(json.dumps(child_forgeml_online(features, rest[0])))
        return
    me = [sys.executable, str(Path(__file__).resolve())]
    size = ["--rows", str(args.rows), "--labels", str(args.labels)]
    results: dict = {"pit": {}, "online": {}}
    for name in ("duckdb", "forgeml"):
        print(f"point-in-time join: {name}", flush=True)
        results["pit"][name] = _run([*me, f"pit-{name}", *size], 1800, f"pit-{name}", args.reuse)
    for backend in ("sqlite", "redis"):
        print(f"online get: forgeml {backend}", flush=True)
        results["online"][f"forgeml-{backend}"] = _run([*me, f"online-forgeml:{backend}", *size], 900, f"online-{backend}", args.reuse)
    feast = {"pit": None, "online": None}
    if args.skip_feast:
        feast = {"error": "skipped (--skip-feast)"}
    elif not FEAST_PY.exists() and (error := _install_feast()):
        feast = {"error": error}
    else:
        feast_script = str(HERE / "feast_bench.py")
        print("point-in-time join: feast", flush=True)
        feast["pit"] = _run([str(FEAST_PY), feast_script, "pit", str(features), str(labels), str(work / "out-feast.parquet")], 3600,
                            "pit-feast", args.reuse)  # fmt: skip
        print("online get: feast", flush=True)
        feast["online"] = _run([str(FEAST_PY), feast_script, "online", str(features)], 1800, "online-feast", args.reuse)
    results["pit"]["feast"] = feast.get("pit") if "error" not in feast else feast
    results["online"]["feast"] = feast.get("online") if "error" not in feast else feast
    checks = {}
    if (work / "out-forgeml.parquet").exists() and (work / "out-duckdb.parquet").exists():
        checks["forgeml_vs_duckdb"] = _compare(work / "out-forgeml.parquet", work / "out-duckdb.parquet", FEATURES)
        checks["forgeml_vs_brute_force"] = _brute_force(features, labels, work / "out-forgeml.parquet")
    if (work / "out-feast.parquet").exists() and isinstance(results["pit"]["feast"], dict) and "error" not in results["pit"]["feast"]:
        checks["feast_vs_brute_force"] = _brute_force(features, labels, work / "out-feast.parquet")
    results["checks"] = checks
    results.update(_verdicts(results, args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results["verdict"], indent=2))


def _versions() -> dict:
    import duckdb
    import pandas
    import pyarrow

    out = {"python": platform.python_version(), "duckdb": duckdb.__version__, "pandas": pandas.__version__, "pyarrow": pyarrow.__version__}
    if FEAST_PY.exists():
        proc = subprocess.run([str(FEAST_PY), "-c", "import feast, pandas; print(feast.__version__, pandas.__version__)"],
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode == 0:
            out["feast"], out["feast_pandas"] = proc.stdout.split()
    return out


def _verdicts(results: dict, args: argparse.Namespace) -> dict:
    pit, online, checks = results["pit"], results["online"], results["checks"]
    fm, dd, fe = pit.get("forgeml", {}), pit.get("duckdb", {}), pit.get("feast") or {}
    verdict: dict = {}
    if "seconds" in fm and "seconds" in dd:
        verdict["pit_within_1.5x_of_plain_duckdb"] = {"ratio": round(fm["seconds"] / dd["seconds"], 2), "met": fm["seconds"] <= 1.5 * dd["seconds"]}
    if "seconds" in fm and "seconds" in fe:
        verdict["pit_10x_faster_than_feast"] = {"speedup": round(fe["seconds"] / fm["seconds"], 1), "met": fe["seconds"] >= 10 * fm["seconds"]}
        verdict["pit_lower_peak_memory_than_feast"] = {"forgeml_mb": fm["peak_rss_mb"], "feast_mb": fe["peak_rss_mb"],
                                                       "met": fm["peak_rss_mb"] < fe["peak_rss_mb"]}  # fmt: skip
    else:
        verdict["pit_vs_feast"] = {"met": None, "why": fe.get("error", "no Feast result")}
    if "label_rows_dropped" in fe:
        verdict["feast_keeps_every_label_row"] = {"dropped": fe["label_rows_dropped"], "met": fe["label_rows_dropped"] == 0}
    if "rows" in fm:
        verdict["forgeml_keeps_every_label_row"] = {"rows": fm["rows"], "met": fm["rows"] == args.labels}
    if checks.get("forgeml_vs_duckdb"):
        verdict["same_rows_as_plain_duckdb"] = {"met": checks["forgeml_vs_duckdb"]["identical"]}
    if checks.get("forgeml_vs_brute_force"):
        verdict["same_rows_as_brute_force_sample"] = {"met": checks["forgeml_vs_brute_force"]["mismatches"] == 0}
    sq = online.get("forgeml-sqlite", {})
    if "get_1" in sq:
        verdict["online_get_1_p99_under_1ms"] = {"p99_us": sq["get_1"]["p99_us"], "met": sq["get_1"]["p99_us"] <= 1000}
        fo = online.get("feast") or {}
        if "get_1" in fo:
            verdict["online_faster_than_feast"] = {
                "get_1_p50_us": [sq["get_1"]["p50_us"], fo["get_1"]["p50_us"]],
                "get_100_p50_us": [sq["get_100"]["p50_us"], fo["get_100"]["p50_us"]],
                "met": sq["get_1"]["p50_us"] < fo["get_1"]["p50_us"] and sq["get_100"]["p50_us"] < fo["get_100"]["p50_us"],
            }
    full = args.rows == _data.N_FEATURES_ROWS and args.labels == _data.N_LABELS
    return {
        "benchmark": "feature store: point-in-time join and online get",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "cpus": __import__("os").cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_average": [round(x, 1) for x in __import__("os").getloadavg()]},
        "versions": _versions(),
        "size": {"feature_rows": args.rows, "label_rows": args.labels, "features": len(FEATURES), "entities": min(_data.N_ENTITIES, args.rows),
                 "full_size": full},
        "goal": {"pit": ">= 10x faster than Feast's default (file) offline store with lower peak memory; within 1.5x of a plain DuckDB ASOF JOIN; "
                        "same rows as a brute-force reference",
                 "online": "p99 <= 1 ms in-process for one record; faster than Feast get_online_features"},
        "notes": [
            "Shared 2-core machine: other engineers' jobs ran at the same time (see load_average), so timings are noisy. "
            "Each point-in-time child runs the join 3 times in one process; 'seconds' is the best run, runs_seconds lists all.",
            "Peak memory is the child process's ru_maxrss (each system in its own process); rss_before_join_mb is what the "
            "process held after loading the label frame and before the join.",
            "ForgeML's join includes the dataset_builder deduplication window (and would include the delete-marker step if "
            "any batch had held markers); the plain DuckDB baseline is a bare ASOF LEFT JOIN over one Parquet file.",
            "Feast 0.67 (file offline store) returned fewer rows than it was given: it drops some label rows that have no "
            "match (label_rows_dropped); ForgeML keeps every row with missing values, as the issue requires.",
            "Online gets: 78,621 distinct ids (the first 100,000 feature rows) in each online store; 1-record gets are "
            "random ids, 100-record gets random samples; Feast's values were materialized into its SQLite online store.",
        ],
        "verdict": verdict,
    }


if __name__ == "__main__":
    main()
