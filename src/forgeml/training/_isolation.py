"""Network isolation of a script-mode training process (SageMaker's EnableNetworkIsolation).

On Linux the script runs under ``unshare --net``: a fresh network namespace whose only interface
is a loopback that is down, so the script can reach nothing. Creating a network namespace needs
root (CAP_SYS_ADMIN) or unprivileged user namespaces; where neither is allowed, or on other
operating systems, isolation is refused at create time with the reason rather than silently
skipped. Built-in algorithms read their data before training and never open a connection, so
isolation applies to scripts only.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys


@functools.lru_cache(maxsize=1)
def network_isolation_support() -> tuple[bool, str]:
    """Whether this machine can isolate a process from the network, and why not if it cannot."""
    if not sys.platform.startswith("linux"):
        return False, f"needs Linux network namespaces (this is {sys.platform})"
    tool = shutil.which("unshare")
    if tool is None:
        return False, "the 'unshare' command (util-linux) is not installed"
    attempts = [[tool, "--net", "true"]]
    if os.geteuid() != 0:
        attempts.append([tool, "--user", "--map-root-user", "--net", "true"])
    for cmd in attempts:
        try:
            if subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0:
                return True, " ".join(cmd[:-1])
        except (OSError, subprocess.SubprocessError):
            continue
    return False, "creating a network namespace is not permitted here (needs root or user namespaces)"


def isolate(cmd: list[str]) -> list[str]:
    """``cmd`` wrapped to run without network access.

    Raises:
        RuntimeError: when isolation is not available (checked again at launch).
    """
    ok, how = network_isolation_support()
    if not ok:
        raise RuntimeError(f"network isolation is not available: {how}")
    return [*how.split(), "--", *cmd]


__all__ = ["isolate", "network_isolation_support"]
