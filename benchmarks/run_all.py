"""Run every benchmark script in turn (each writes its own results file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    failed = []
    for script in sorted(HERE.glob("*/bench*.py")) + sorted(HERE.glob("*/*_bench.py")):
        print(f"== {script.relative_to(HERE)}", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(script.name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
