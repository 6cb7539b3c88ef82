"""The time-driving loop of ``forgeml server`` and ``forgeml scheduler``: each tick runs the
schedules, the event rules and the monitoring scheduler, each a small pass over durable state
(kill -9 at any moment; the next start resumes and never fires anything twice)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

log = logging.getLogger("forgeml.rules.loop")


class SchedulerLoop:
    """One daemon thread; :meth:`tick` is one round (what tests call)."""

    def __init__(self, ws: Workspace, interval: float | None = None, *, monitoring: bool = True) -> None:
        self.ws = ws
        self.interval = interval if interval is not None else ws.settings.rules_tick_seconds
        self.monitoring = monitoring
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._monitor: object | None = None
        self._ticks = 0

    def tick(self) -> int:
        """Schedules, rules, and (every ``monitoring_every`` ticks) monitoring; targets fired."""
        acted = 0
        for name, part in (("schedules", self.ws.schedules), ("rules", self.ws.rules)):
            try:
                acted += part.tick()
            except Exception:  # one part's failure never stops the others or the loop
                log.exception("%s tick failed", name)
        if self.monitoring and self._ticks % max(1, round(30.0 / self.interval)) == 0:
            try:
                from forgeml.monitoring._scheduler import Scheduler

                self._monitor = self._monitor or Scheduler(self.ws)
                self._monitor.tick()  # type: ignore[attr-defined]
            except Exception:
                log.exception("monitoring scheduler tick failed")
        self._ticks += 1
        return acted

    def run(self) -> None:
        """Tick every ``interval`` seconds until :meth:`stop`."""
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def start(self) -> SchedulerLoop:
        self._thread = threading.Thread(target=self.run, name="forgeml-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


__all__ = ["SchedulerLoop"]
