"""Counting guardgate's own faults: every fail-open is counted, and logged once with context."""

from __future__ import annotations

import logging
import time
from collections import Counter

from guardgate.metrics import Metrics

_NOTE_EVERY = 60.0
"""Seconds between log lines for one kind of fault counted with `note`."""


class FaultCounter:
    """Counts faults by kind; logs the first of each kind with its traceback, then every 1000th,
    so that an outage is visible without flooding the log."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.counts: Counter[str] = Counter()
        self._logged: dict[str, float] = {}
        self._metrics = metrics

    def record(self, kind: str, logger: logging.Logger) -> None:
        """Count one fault of `kind`; call from inside an `except` block."""
        self.counts[kind] += 1
        if self._metrics is not None:
            self._metrics.fault(kind)
        n = self.counts[kind]
        if n == 1:
            logger.exception("guardgate fault (%s)", kind)
        elif n % 1000 == 0:
            logger.error("guardgate fault (%s): %d so far", kind, n)

    def note(self, kind: str, logger: logging.Logger, what: str, count: int = 1) -> None:
        """Count `count` faults of `kind` that raised nothing (requests a fault touched); `what`
        says what happened. Logged at the first, then at most once a minute per kind."""
        self.counts[kind] += count
        if self._metrics is not None:
            self._metrics.fault(kind, count)
        now = time.monotonic()
        last = self._logged.get(kind)
        if last is None or now - last >= _NOTE_EVERY:
            self._logged[kind] = now
            logger.error("guardgate fault (%s): %s (%d so far)", kind, what, self.counts[kind])
