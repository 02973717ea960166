"""The time range every page shows, read from and written to the URL (``?from=…&to=…``).

``from`` and ``to`` take what ``tailsight.timeutil.parse_time`` takes: ISO times, unix
seconds, ``now`` or a duration before now (``6h``). A relative range (``from=6h``)
slides with each refresh; an absolute one stays put, so a deep link shows what its
sender saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlencode

from tailsight.timeutil import parse_time

DEFAULT_FROM = "6h"
PRESETS = ("15m", "1h", "6h", "24h", "7d")
# Steps a page may draw at: the smallest giving at most MAX_POINTS buckets is used.
STEPS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
MAX_POINTS = 240


@dataclass(frozen=True)
class TimeRange:
    """A resolved range: ``start``/``end`` in UTC and the text they came from."""

    start: datetime
    end: datetime
    from_text: str = DEFAULT_FROM
    to_text: str = "now"

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def step_s(self) -> int:
        """The bucket width the pages draw at: at most ``MAX_POINTS`` buckets over the range."""
        return step_for(self.seconds)

    @property
    def query(self) -> str:
        """``?from=…&to=…`` for links that keep this range."""
        return "?" + urlencode({"from": self.from_text, "to": self.to_text})

    def around(self, start: datetime, end: datetime) -> TimeRange:
        """The absolute range ``[start, end)``, as a page that shows one moment uses it."""
        return TimeRange(start, end, _iso(start), _iso(end))


def step_for(seconds: float, max_points: int = MAX_POINTS) -> int:
    """The smallest of ``STEPS`` that draws ``seconds`` in at most ``max_points`` buckets."""
    for step in STEPS:
        if seconds / step <= max_points:
            return step
    return STEPS[-1]


def parse_range(search: str | None, now: datetime) -> TimeRange:
    """The range of a URL query string; ``ValueError`` naming the parameter and value if bad."""
    params = parse_qs((search or "").lstrip("?"))
    from_text = (params.get("from") or [DEFAULT_FROM])[0].strip() or DEFAULT_FROM
    to_text = (params.get("to") or ["now"])[0].strip() or "now"
    try:
        start = parse_time(from_text, now)
    except ValueError as exc:
        raise ValueError(f"from={from_text}: {exc}") from None
    try:
        end = parse_time(to_text, now)
    except ValueError as exc:
        raise ValueError(f"to={to_text}: {exc}") from None
    if end <= start:
        raise ValueError(f"from={from_text} is not before to={to_text}")
    if end - start > timedelta(days=31):
        raise ValueError(f"from={from_text} to={to_text} spans more than 31 days")
    return TimeRange(start, end, from_text, to_text)


def range_query(from_text: str, to_text: str | None = None) -> str:
    """The query string of a range typed into the picker."""
    return "?" + urlencode({"from": from_text.strip(), "to": (to_text or "now").strip() or "now"})


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
