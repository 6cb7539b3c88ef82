"""The execution-backend interface: where a job's supervisor process runs.

A backend only starts, probes and kills supervisors. Everything a job needs travels as its name
plus ``FORGEML_*`` settings (the job's config is in the metadata store), so a backend that runs
the supervisor elsewhere (Ray, a container) needs no shared in-memory state with the caller.
"""

from __future__ import annotations

import abc
from typing import Any


class ExecutionBackend(abc.ABC):
    """Starts and stops job supervisors."""

    name: str = "abstract"

    @abc.abstractmethod
    def launch(self, job_name: str, env: dict[str, str]) -> dict[str, Any]:
        """Start the supervisor of ``job_name``; return a JSON-serializable handle."""

    @abc.abstractmethod
    def is_alive(self, handle: dict[str, Any]) -> bool:
        """Whether the process (or task) behind ``handle`` still runs."""

    @abc.abstractmethod
    def kill(self, handle: dict[str, Any]) -> None:
        """Kill the supervisor and everything it started, at once."""
