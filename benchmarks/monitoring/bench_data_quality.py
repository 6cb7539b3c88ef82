"""Data-quality monitoring benchmark (issue 12): N captured requests x 20 numeric features against
an N-row baseline, capture parsing included, next to scipy's ``ks_2samp`` per column and
Evidently 0.7's ``DataDriftPreset`` on the same rows already loaded as DataFrames; and a
baseline of a large row count in bounded memory.

    .venv/bin/python benchmarks/monitoring/bench_data_quality.py [--rows 500000] [--big-rows 10000000]
        [--skip-evidently] [--skip-big]

Every side runs in a fresh process of this script (``--side``) and reports its wall time, CPU time
and peak RSS. Evidently pins pandas < 3, so it runs from ``benchmarks/.work/evidently-venv``
(``pip install -r benchmarks/monitoring/requirements-evidently.txt`` there: evidently 0.7.23 and pandas < 3). Results go to
``benchmarks/results/monitoring.json`` with the machine, versions and load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".work" / "monitoring"
RESULTS = HERE.parent / "results" / "monitoring.json"
EVIDENTLY_PY = HERE.parent / ".work" / "evidently-venv" / "bin" / "python"
FEATURES = [f"f{i:02d}" for i in range(20)]
LINES_PER_FILE = 50_000
SEED = 12


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss survives execve on Linux, so a child would report
    its parent's peak when that was higher)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def generate(rows: int) -> None:
    """The baseline as Parquet, the window as capture files (one CSV row per request, 5 of 20
    features shifted) and as Parquet (what scipy and Evidently load)."""
    import numpy as np
    import orjson
    import pandas as pd

    stamp = WORK / f"data-{rows}.done"
    if stamp.exists():
        return
    WORK.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    base = pd.DataFrame(rng.normal(size=(rows, 20)).round(6), columns=FEATURES)
    window = rng.normal(size=(rows, 20)).round(6)
    window[:, :5] += 0.5
    base.to_parquet(WORK / "baseline.parquet", index=False)
    pd.DataFrame(window, columns=FEATURES).to_parquet(WORK / "window.parquet", index=False)
    folder = WORK / "capture" / "AllTraffic" / "2026" / "12" / "07" / "10"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jsonl"):
        old.unlink()
    text = [",".join(map(repr, row)) for row in window.tolist()]
    for part, start in enumerate(range(0, rows, LINES_PER_FILE)):
        with open(folder / f"part-{part:03d}.jsonl", "wb") as out:
            for i in range(start, min(rows, start + LINES_PER_FILE)):
                out.write(orjson.dumps({
                    "captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": text[i], "encoding": "CSV"},
                                    "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                                       "data": "{\"predictions\": [0.5]}", "encoding": "JSON"}},
                    "eventMetadata": {"eventId": f"e{i}", "inferenceTime": "2026-12-07T10:00:00Z"}, "eventVersion": "0",
                }) + b"\n")  # fmt: skip
    stamp.touch()


def side_forgeml() -> dict[str, Any]:
    import pyarrow.parquet as pq

    from forgeml.monitoring import CaptureReader, Profile, capture_files, check, suggest

    t0, c0 = time.perf_counter(), _cpu()
    base = Profile()
    for batch in pq.ParquetFile(WORK / "baseline.parquet").iter_batches(batch_size=65_536):
        base.update(batch.to_pandas())
    stats = base.statistics()
    constraints = suggest(stats)
    t1 = time.perf_counter()
    reader = CaptureReader(FEATURES)
    window = Profile()
    for frame in reader.read(capture_files(WORK / "capture")):
        window.update(frame)
    t2 = time.perf_counter()
    result = check(stats, constraints, window)
    t3 = time.perf_counter()
    drifted = sorted({v["feature_name"] for v in result.violations if v["constraint_check_type"] == "baseline_drift_check"})
    return {"seconds": t3 - t0, "baseline_seconds": t1 - t0, "window_parse_and_profile_seconds": t2 - t1,
            "check_seconds": t3 - t2, "cpu_seconds": _cpu() - c0, "peak_rss_mb": _peak_mb(), "rows": window.rows,
            "drifted_features": drifted, "capture": reader.counts.to_dict()}  # fmt: skip


def side_scipy() -> dict[str, Any]:
    import pandas as pd
    from scipy.stats import ks_2samp

    base, window = pd.read_parquet(WORK / "baseline.parquet"), pd.read_parquet(WORK / "window.parquet")
    t0, c0 = time.perf_counter(), _cpu()
    stats = {f: float(ks_2samp(base[f].to_numpy(), window[f].to_numpy()).statistic) for f in FEATURES}
    t1 = time.perf_counter()
    return {"seconds": t1 - t0, "cpu_seconds": _cpu() - c0, "peak_rss_mb": _peak_mb(),
            "drifted_features": sorted(f for f, d in stats.items() if d > 0.1), "ks": stats}  # fmt: skip


def side_evidently() -> dict[str, Any]:
    import pandas as pd
    from evidently import Report  # type: ignore[import-not-found]
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found]

    base, window = pd.read_parquet(WORK / "baseline.parquet"), pd.read_parquet(WORK / "window.parquet")
    t0, c0 = time.perf_counter(), _cpu()
    snapshot = Report([DataDriftPreset()]).run(window, base)
    t1 = time.perf_counter()
    drift = snapshot.dict()
    return {"seconds": t1 - t0, "cpu_seconds": _cpu() - c0, "peak_rss_mb": _peak_mb(), "metrics": len(drift.get("metrics", []))}


def side_big(rows: int) -> dict[str, Any]:
    """A baseline of ``rows`` x 20 columns made batch by batch (never held whole): bounded memory."""
    import numpy as np
    import pandas as pd

    from forgeml.monitoring import Profile

    rng = np.random.default_rng(SEED)
    t0, c0 = time.perf_counter(), _cpu()
    profile, done = Profile(), 0
    while done < rows:
        n = min(262_144, rows - done)
        profile.update(pd.DataFrame(rng.normal(size=(n, 20)), columns=FEATURES))
        done += n
    stats = profile.statistics()
    t1 = time.perf_counter()
    return {"rows": done, "seconds": t1 - t0, "cpu_seconds": _cpu() - c0, "peak_rss_mb": _peak_mb(), "features": len(stats["features"])}


def _run(args: list[str], python: str = sys.executable, timeout: float = 900) -> dict[str, Any]:
    out = subprocess.run([python, __file__, *args], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONPATH": str(HERE.parents[1] / "src")})  # fmt: skip
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _versions() -> dict[str, str]:
    import numpy
    import pandas
    import scipy

    out = {"python": platform.python_version(), "numpy": numpy.__version__, "pandas": pandas.__version__, "scipy": scipy.__version__}
    if EVIDENTLY_PY.exists():
        got = subprocess.run([str(EVIDENTLY_PY), "-c", "import evidently, pandas; print(evidently.__version__, pandas.__version__)"],
                             capture_output=True, text=True)  # fmt: skip
        if got.returncode == 0:
            out["evidently"], out["evidently_pandas"] = got.stdout.split()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--side", choices=["forgeml", "scipy", "evidently", "big"])
    args = parser.parse_args()
    if args.side:
        result = {"forgeml": side_forgeml, "scipy": side_scipy, "evidently": side_evidently}.get(args.side)
        print(json.dumps(result() if result else side_big(args.big_rows)))
        return
    t = time.perf_counter()
    generate(args.rows)
    load_before = os.getloadavg()
    results: dict[str, Any] = {"rows": args.rows, "features": 20, "generate_seconds": time.perf_counter() - t}
    results["forgeml"] = _run(["--side", "forgeml"])
    results["scipy_ks_2samp"] = _run(["--side", "scipy"])
    if args.skip_evidently:
        results["evidently"] = {"skipped": "--skip-evidently"}
    elif not EVIDENTLY_PY.exists():
        results["evidently"] = {"skipped": f"no {EVIDENTLY_PY.parents[1]} (create it: python -m venv ...; pip install -r requirements-evidently.txt)"}
    else:
        results["evidently"] = _run(["--side", "evidently"], python=str(EVIDENTLY_PY))
    if not args.skip_big:
        results["big_baseline"] = _run(["--side", "big", "--big-rows", str(args.big_rows)])
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "load_before": load_before,
                          "load_after": os.getloadavg(), "note": "the shared 2-core development machine, other engineers' work running"}  # fmt: skip
    results["versions"] = _versions()
    results["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fm, sp = results["forgeml"], results["scipy_ks_2samp"]
    if "seconds" in fm and "seconds" in sp:
        results["forgeml_over_scipy"] = fm["seconds"] / sp["seconds"]
    if "seconds" in fm and "seconds" in results["evidently"]:
        results["evidently_over_forgeml"] = results["evidently"]["seconds"] / fm["seconds"]
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k not in ("versions",)}, indent=2))


if __name__ == "__main__":
    main()
