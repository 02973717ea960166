"""Where tests and benchmarks place simulated data in time: relative to now, never a fixed date.

The store drops data older than its TTL (30 days by default), so a fixed date expires. The
simulator's load follows the time of day (a diurnal cycle peaking at 15:00 UTC), so data is
placed at noon UTC a few days back: the same phase of the day on every run, inside any TTL.
"""

from __future__ import annotations

import time

DAY_S = 86400.0


def recent_noon(days_ago: int = 2, now: float | None = None) -> float:
    """Unix time of 12:00 UTC ``days_ago`` days before today (UTC)."""
    now = time.time() if now is None else now
    return (now // DAY_S - days_ago) * DAY_S + DAY_S / 2
