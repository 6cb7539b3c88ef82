"""The alarm evaluation loop ``forgeml server`` runs: every ``alarm_evaluation_seconds`` it
evaluates every alarm and rolls back deployments whose driving process died."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

log = logging.getLogger(__name__)


class AlarmLoop:
    """A daemon thread; :meth:`tick` is one round (also what tests call)."""

    def __init__(self, ws: Workspace, interval: float | None = None) -> None:
        self.ws = ws
        self.interval = interval if interval is not None else ws.settings.alarm_evaluation_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int:
        """Recover orphaned deployments, then evaluate every alarm; returns state changes."""
        from forgeml.serving._rollout import recover

        try:
            for name in recover(self.ws.endpoints):
                log.warning("endpoint %s: an interrupted deployment was rolled back", name)
            self._shadow_tests()
            return len(self.ws.alarms.evaluate())
        except Exception:
            log.exception("alarm evaluation failed")
            return 0

    def _shadow_tests(self) -> None:
        """Start and end shadow tests on their schedule; finish steps whose driver died."""
        try:
            for name in self.ws.shadow_tests.tick():
                log.info("shadow test %s moved on", name)
        except Exception:
            log.exception("shadow test tick failed")

    def start(self) -> AlarmLoop:
        self._thread = threading.Thread(target=self._run, name="forgeml-alarms", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        self.tick()
        while not self._stop.wait(self.interval):
            self.tick()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


__all__ = ["AlarmLoop"]
