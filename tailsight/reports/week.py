"""ISO weeks in the report's time zone: parsing ``2026-W48``, its bounds, the last full one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class IsoWeek:
    """An ISO week (Monday 00:00 to the next Monday 00:00) in a time zone."""

    year: int
    week: int
    tz: str = "UTC"

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.tz)

    @property
    def start(self) -> datetime:
        """Monday 00:00 local time, as UTC."""
        monday = date.fromisocalendar(self.year, self.week, 1)
        return datetime.combine(monday, time(0), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 local time, as UTC (exclusive)."""
        return self.next().start

    def days(self) -> list[datetime]:
        """The starts of its seven local days, as UTC (a DST change makes one 23 or 25 h)."""
        monday = date.fromisocalendar(self.year, self.week, 1)
        return [
            datetime.combine(monday + timedelta(days=i), time(0), self.zone).astimezone(UTC)
            for i in range(7)
        ]

    def next(self) -> IsoWeek:
        y, w, _ = (date.fromisocalendar(self.year, self.week, 1) + timedelta(days=7)).isocalendar()
        return IsoWeek(y, w, self.tz)

    def previous(self) -> IsoWeek:
        y, w, _ = (date.fromisocalendar(self.year, self.week, 1) - timedelta(days=7)).isocalendar()
        return IsoWeek(y, w, self.tz)


def zone(name: str) -> ZoneInfo:
    """The named IANA time zone, or ``ValueError`` naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"report_timezone {name!r} is not an IANA time zone") from None


def parse_week(text: str, tz: str = "UTC") -> IsoWeek:
    """``2026-W48`` → :class:`IsoWeek`; ``ValueError`` naming the value otherwise."""
    match = _WEEK.match(text.strip())
    if not match:
        raise ValueError(f"week {text!r} is not an ISO week such as 2026-W48")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"week {text!r} does not exist (year {year} has no week {week})") from None
    zone(tz)
    return IsoWeek(year, week, tz)


def last_full_week(now: datetime, tz: str = "UTC") -> IsoWeek:
    """The latest ISO week that has ended by ``now`` in ``tz``."""
    local = now.astimezone(zone(tz)).date() - timedelta(days=7)
    year, week, _ = local.isocalendar()
    return IsoWeek(year, week, tz)
