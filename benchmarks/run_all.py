"""Run every benchmark script in turn (each writes its own results file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCRIPTS = [
    "core/bench_core.py",
    "data/bench_profile_validate.py",
    "data/bench_sql_sandbox.py",
    "features/bench_features.py",
    "training/bench_training.py",
    "tuning/bench_tuning.py",
    "clarify/bench_clarify.py",
    "serving/transform_bench.py",
    "serving/endpoint_bench.py",
    "security/bench_encryption.py",
]

if __name__ == "__main__":
    failed = []
    for script in SCRIPTS:
        print(f"== {script}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)]).returncode != 0:
            failed.append(script)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
