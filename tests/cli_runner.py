"""Run the ``forgeml`` CLI inside the test process, as the console script would."""

from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``forgeml --home HOME ARGS`` in this process, capturing stdout, stderr and exit code."""
    from forgeml.cli import main
    from forgeml.cli._common import state

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # print_json writes to sys.stdout.buffer
    err = io.StringIO()
    code = 0
    state.workspace = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["--home", str(home), *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    state.workspace = None
    out.flush()
    return subprocess.CompletedProcess(list(args), code, out.buffer.getvalue().decode(), err.getvalue())
