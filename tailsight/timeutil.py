"""Parsing the times users type: ISO 8601, unix seconds, and durations such as ``15m`` or ``2h``."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

# The times the store holds (its DateTime columns): from the epoch to 2^32 s, exclusive.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime.fromtimestamp(1 << 32, UTC)  # 2106-02-07T06:28:16Z


def in_range(ts: datetime, what: str = "time") -> datetime:
    """``ts`` when the store can hold it, else ``ValueError`` naming the range."""
    if not EARLIEST <= ts < LATEST:
        raise ValueError(
            f"{what} ({iso_z(ts)}) is out of range: times must lie from "
            f"{iso_z(EARLIEST)} to before {iso_z(LATEST)}"
        )
    return ts


def iso_z(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``7d``, ``1w`` → timedelta; ``ValueError`` otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 2h or 7d")
    try:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any time the store holds") from None


def parse_time(value: str | float | int, now: datetime | None = None) -> datetime:
    """A point in time from ISO 8601, unix seconds, or a duration meaning that long before ``now``.

    ``ValueError`` for anything else and for times the store cannot hold (:func:`in_range`):
    ``1e20``, ``inf``, ``nan``, ``0001-01-01`` all name the accepted range.
    """
    return in_range(_parse_time(value, now or datetime.now(UTC)), f"time {str(value)[:40]!r}")


def _seconds(value: float) -> datetime:
    if not math.isfinite(value) or not EARLIEST.timestamp() <= value < LATEST.timestamp():
        raise ValueError(
            f"{value!r} unix seconds is out of range: times must lie from {iso_z(EARLIEST)} "
            f"to before {iso_z(LATEST)}"
        )
    return datetime.fromtimestamp(value, UTC)


def _parse_time(value: str | float | int, now: datetime) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _seconds(float(value))
    text = str(value).strip()
    if not text:
        raise ValueError("an empty time")
    if text == "now":
        return now
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _seconds(seconds)
    if _DURATION.match(text):
        try:
            return now - parse_duration(text)
        except OverflowError:
            raise ValueError(f"{text!r} reaches back before {iso_z(EARLIEST)}") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use ISO 8601 (2026-11-22T10:00:00Z), unix seconds, "
            "or a duration before now (15m, 2h, 7d)"
        ) from None
    try:
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None
