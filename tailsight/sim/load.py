"""Request rates over time: a diurnal cycle with slow, reproducible wobble.

Rates are pure functions of time and seed (no state), so a backfill and a live run, or
two runs of the same scenario, see the same load at the same instant.
"""

from __future__ import annotations

import math
import zlib

DAY_S = 86400.0


def diurnal(t: float, amplitude: float = 0.45, peak_hour_utc: float = 15.0) -> float:
    """Load factor at unix time ``t``: 1 on average, ``1 ± amplitude`` at peak and trough."""
    hour = (t % DAY_S) / 3600.0
    return 1.0 + amplitude * math.cos(2 * math.pi * (hour - peak_hour_utc) / 24.0)


def wobble(t: float, key: str, seed: int, depth: float = 0.06) -> float:
    """Slow multiplicative noise around 1 (periods of 7 to 50 minutes), fixed by key and seed."""
    h = zlib.crc32(f"{seed}:{key}".encode())
    total = 0.0
    for i, period in enumerate((420.0, 1300.0, 3000.0)):
        phase = ((h >> (8 * i)) & 0xFF) / 255.0 * 2 * math.pi
        total += math.sin(2 * math.pi * t / period + phase)
    return 1.0 + depth * total / 3.0


def service_rate(base: float, t: float, service: str, seed: int) -> float:
    """Requests/s a service receives directly (before any surge) at time ``t``."""
    return base * diurnal(t) * wobble(t, service, seed)
