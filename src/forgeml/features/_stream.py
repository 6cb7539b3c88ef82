"""The streaming push path: a buffered writer that flushes small batches into a feature group.

Like SageMaker's offline store (buffered, written in batches), records pushed to a
:class:`FeatureStream` are validated on arrival and written as one all-or-nothing batch when
``max_records`` are buffered, when the oldest waited ``max_delay`` seconds, or on ``flush()`` /
``close()``. Invalid records are refused at ``put`` and never reach the buffer.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from forgeml.features._records import normalize, record_frame

if TYPE_CHECKING:
    import pandas as pd

    from forgeml.features._service import FeatureStoreService


class FeatureStream:
    """Push records one at a time; they are written in batches (use as a context manager)."""

    def __init__(self, service: FeatureStoreService, name: str, *, max_records: int = 1000, max_delay: float = 1.0) -> None:
        self.service = service
        self.group = service.get_group(name)
        self.max_records = max(1, int(max_records))
        self.max_delay = max(0.0, float(max_delay))
        self._buffer: list[pd.DataFrame] = []
        self._first: float | None = None
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self.written = 0
        self.batches = 0
        self._error: BaseException | None = None
        self._timer = threading.Thread(target=self._tick, name=f"feature-stream-{name}", daemon=True)
        self._timer.start()

    def put(self, record: dict[str, Any]) -> None:
        """Validate and buffer one record.

        Raises:
            ValidationError: for a bad record (the buffer is unchanged).
        """
        if self._error is not None:
            raise self._error
        frame = normalize(self.group, record_frame(self.group, record))
        with self._lock:
            self._buffer.append(frame)
            self._first = self._first or time.monotonic()
            full = len(self._buffer) >= self.max_records
        if full:
            self.flush()

    def flush(self) -> int:
        """Write what is buffered as one batch; return how many records."""
        import pandas as pd

        with self._lock:
            if not self._buffer:
                return 0
            frame = pd.concat(self._buffer, ignore_index=True)
            self.service.writer.write(self.group, self.service.offline(self.group.name), frame)
            self._buffer, self._first = [], None
            self.written += len(frame)
            self.batches += 1
            return len(frame)

    def _tick(self) -> None:
        while not self._closed.wait(min(0.05, self.max_delay or 0.05)):
            with self._lock:
                due = self._first is not None and time.monotonic() - self._first >= self.max_delay
            if due:
                try:
                    self.flush()
                except BaseException as exc:  # surfaced on the next put or close
                    self._error = exc

    def close(self) -> None:
        """Flush and stop the timer."""
        self._closed.set()
        self._timer.join()
        self.flush()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> FeatureStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
