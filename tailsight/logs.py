"""Log lines that repeat are rate-limited, so a flood of bad clients cannot flood the log.

An audit made asyncio log 1.79 M lines (133 MB) in 25 s under a connection flood. The
:class:`RepeatFilter` on the process' handler lets through at most ``burst`` lines of one
kind (logger, level and the message's start) per ``window_s``, and says how many it
held back on the next line of that kind it lets through.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any


class RepeatFilter(logging.Filter):
    """At most ``burst`` records of one kind per ``window_s``; the rest counted, not logged."""

    def __init__(self, burst: int = 20, window_s: float = 60.0, kinds: int = 4096) -> None:
        super().__init__()
        self.burst, self.window_s, self.kinds = burst, window_s, kinds
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # kind -> [start, n, held]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg)[:60])
        now = time.monotonic()
        with self._lock:
            entry = self._seen.get(kind)
            if entry is None or now - entry[0] >= self.window_s:
                held = int(entry[2]) if entry else 0
                if entry is None and len(self._seen) >= self.kinds:
                    self._seen.clear()
                self._seen[kind] = [now, 1, 0]
                if held:
                    record.msg = f"{record.msg} [{held} more like this were not logged]"
                return True
            entry[1] += 1
            if entry[1] <= self.burst:
                return True
            entry[2] += 1
            return False


def install(handlers: list[logging.Handler] | None = None) -> None:
    """Put a :class:`RepeatFilter` on ``handlers`` (default: the root logger's)."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter())


class RateLimited:
    """A logger's messages at most once per ``every_s`` each (for events with no end)."""

    def __init__(self, logger: logging.Logger, every_s: float = 60.0) -> None:
        self.logger, self.every_s = logger, every_s
        self._last: dict[str, float] = {}

    def _ok(self, msg: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(msg, -1e9) < self.every_s:
            return False
        self._last[msg] = now
        return True

    def warning(self, msg: str, *args: Any) -> None:
        if self._ok(msg):
            self.logger.warning(msg, *args)

    def info(self, msg: str, *args: Any) -> None:
        if self._ok(msg):
            self.logger.info(msg, *args)
