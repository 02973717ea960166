"""Parsing the times users type: ISO 8601, unix seconds, and durations such as ``15m`` or ``2h``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``7d``, ``1w`` → timedelta; ``ValueError`` otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 2h or 7d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_time(value: str | float | int, now: datetime | None = None) -> datetime:
    """A point in time from ISO 8601, unix seconds, or a duration meaning that long before ``now``."""
    now = now or datetime.now(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip()
    if not text:
        raise ValueError("an empty time")
    if text == "now":
        return now
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    if _DURATION.match(text):
        return now - parse_duration(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 (2026-11-22T10:00:00Z), unix seconds, "
            "or a duration before now (15m, 2h, 7d)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
