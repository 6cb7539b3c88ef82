"""A per-job virtual environment for a script's ``requirements.txt``.

The venv is created without pip and sees the platform's own packages (a ``.pth`` file adds the
parent environment's site-packages), so requirements that are already satisfied install nothing
and need no network; only what is missing is installed, into the job's venv alone. pip honours
the usual ``PIP_*`` variables (``PIP_NO_INDEX=1``, ``PIP_FIND_LINKS``) for offline installs.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import IO


def make_venv(dest: Path, requirements: Path, log: IO[str]) -> Path:
    """Create a venv at ``dest`` with ``requirements`` installed; return its Python.

    Raises:
        RuntimeError: when the venv cannot be created or pip fails (pip's output is in the log).
    """
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(dest)], capture_output=True, text=True)
    if made.returncode != 0:
        raise RuntimeError(f"could not create a venv: {made.stderr.strip()[-500:]}")
    python = dest / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    parents = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in sorted(parents))
    Path(site, "_forgeml_parent.pth").write_text(lines)
    log.write(f"[forgeml] installing {requirements.name} into the job's venv\n")
    log.flush()
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--disable-pip-version-check",
         "--no-input", "-r", str(requirements)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    log.write(pip.stdout)
    log.flush()
    if pip.returncode != 0:
        tail = " | ".join(line for line in pip.stdout.strip().splitlines()[-3:])
        raise RuntimeError(f"pip could not install {requirements.name}: {tail}")
    return python


__all__ = ["make_venv"]
