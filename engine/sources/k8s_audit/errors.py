"""The k8s audit sources' one per-item error policy, shared by the webhook and the audit-log file source.

Owns: ``ItemErrors``. A bad item (a line that is not an audit event, an event without ``stageTimestamp``, an
oversized event) is dropped, counted in the source's ``SourceStats.drops`` under a stable reason code, and
logged at a bounded rate (one line per reason per interval, naming where: ``file:line`` or the client address,
with how many similar ones were suppressed). A bad batch is not this module's business: the source refuses it
whole where the sender can retry (HTTP 4xx/503 from the webhook, ``ReplayError`` from a replay).

Must not: decode anything, or raise for a bad item.
"""

from __future__ import annotations

import logging
import threading

from engine.outputs.queue import RateLimitedLog
from engine.sources.base import SourceStats

LOG_INTERVAL = 10.0  # seconds between two log lines for the same drop reason


class ItemErrors:
    """Count and log dropped items of one source into ``stats.drops`` (under ``lock``, shared with the source)."""

    def __init__(self, stats: SourceStats, logger: logging.Logger, *, lock: threading.Lock | None = None,
                 interval: float = LOG_INTERVAL) -> None:
        self.stats = stats
        self.lock = lock if lock is not None else threading.Lock()
        self._limiter = RateLimitedLog(logger, interval=interval)

    def drop(self, reason: str, where: str, message: str, *, count: int = 1) -> None:
        """``count`` items at ``where`` dropped for ``reason`` (a stable code); ``message`` says what was wrong."""
        if count <= 0:
            return
        with self.lock:
            self.stats.drops[reason] += count
        many = f" ({count} items)" if count > 1 else ""
        self._limiter.warning(reason, "%s: dropped%s: %s", where, many, message)
