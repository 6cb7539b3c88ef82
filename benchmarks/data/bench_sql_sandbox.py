"""Validation on a plain DuckDB connection against the SQL sandbox, side by side.

A ruleset with SQL its author wrote (a CustomSQL rule or a ``where`` filter) is evaluated in the
sandbox (``forgeml.core.sql_sandbox``): external access off, so DuckDB cannot open the Parquet
file itself and scans it as a pyarrow dataset instead. Other rulesets stay on a plain connection
that reads the file with DuckDB's own Parquet reader. This measures what that choice saves: the
ten rules of ``bench_profile_validate.py`` plus one ``RowCount`` rule, once plain (``RowCount > 0``)
and once with ``where "true"`` (the same rows, but the ruleset then runs in the sandbox). Rounds
alternate the two, each run in a fresh process; medians are reported.

    python benchmarks/data/bench_sql_sandbox.py [--rows 3000000] [--rounds 3]

Writes ``benchmarks/results/sql_sandbox.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_profile_validate import NOW, RULES, WORK, generate  # noqa: E402

RESULTS = HERE.parent / "results" / "sql_sandbox.json"
EXTRA = {"plain": 'RowCount > 0', "sandbox": 'RowCount > 0 where "true"'}


def child(engine: str, path: str) -> None:
    from forgeml.data import validate

    rules = RULES.rstrip().removesuffix("]") + f",\n    {EXTRA[engine]}\n]"
    t0 = time.perf_counter()
    report = validate(path, rules, now=NOW, threads=os.cpu_count())
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"validate_s": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
                      "failed_rows": {r["rule"]: r.get("failed_rows") for r in report["rules"]}}))  # fmt: skip


def spawn(engine: str, path: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, __file__, "--child", engine, str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "PATH"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    load_at_start = os.getloadavg()
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"bench_{args.rows}.parquet"
    if not path.exists():
        tmp = path.with_suffix(".part")
        generate(tmp, args.rows)
        tmp.rename(path)
    runs: dict[str, list[dict[str, object]]] = {"plain": [], "sandbox": []}
    for _ in range(args.rounds):
        for engine in runs:
            runs[engine].append(spawn(engine, path))
    med = {e: {k: round(statistics.median(float(r[k]) for r in rs), 3) for k in ("validate_s", "cpu_s", "peak_rss_mb")} for e, rs in runs.items()}
    plain_rows = {k: v for k, v in runs["plain"][0]["failed_rows"].items() if "RowCount" not in k}  # type: ignore[union-attr]
    sandbox_rows = {k: v for k, v in runs["sandbox"][0]["failed_rows"].items() if "RowCount" not in k}  # type: ignore[union-attr]
    from importlib.metadata import version

    results = {
        "benchmark": "validate: plain DuckDB connection over Parquet vs the SQL sandbox (Arrow dataset scan)",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_at_start": load_at_start,
                    "load_average_at_end": os.getloadavg()},  # fmt: skip
        "versions": {p: version(p) for p in ("duckdb", "pyarrow")} | {"python": platform.python_version()},
        "data": {"rows": args.rows, "columns": 20, "file_mb": round(path.stat().st_size / 2**20, 1)},
        "rounds": args.rounds,
        "median": med,
        "sandbox_over_plain_wall": round(med["sandbox"]["validate_s"] / med["plain"]["validate_s"], 2),
        "sandbox_over_plain_cpu": round(med["sandbox"]["cpu_s"] / med["plain"]["cpu_s"], 2),
        "same_failed_rows": plain_rows == sandbox_rows,
        "runs": runs,
        "notes": [
            "each run is a fresh process; cpu_s includes the interpreter start and imports",
            "the machine is shared (2 cores, other jobs running): the ratio from alternating rounds is the result",
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps({k: results[k] for k in ("data", "median", "sandbox_over_plain_wall", "sandbox_over_plain_cpu", "same_failed_rows")}, indent=2))


if __name__ == "__main__":
    main()
