"""The autoscaling loop ``forgeml server`` runs: :meth:`ScalingService.tick` every few seconds.

Each round works only from durable state (targets, policies, scheduled actions, activities, the
metrics store, the async queue), so a ``kill -9`` of the server at any moment loses nothing: the
next start finishes the activity that was being applied and decides afresh from there.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

log = logging.getLogger("forgeml.serving.scaling")


class ScalingLoop:
    """A daemon thread; :meth:`tick` is one round (also what tests call)."""

    def __init__(self, ws: Workspace, interval: float | None = None) -> None:
        self.ws = ws
        self.interval = interval if interval is not None else ws.settings.autoscaling_interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int:
        """One round; the number of scaling activities begun."""
        try:
            return len(self.ws.scaling.tick())
        except Exception:  # the store briefly unreachable: next round
            log.exception("autoscaling round failed")
            return 0

    def start(self) -> ScalingLoop:
        self._thread = threading.Thread(target=self._run, name="forgeml-autoscaling", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


__all__ = ["ScalingLoop"]
