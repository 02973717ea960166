"""ISO weeks in a time zone, the budget arithmetic and the schedule, without a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tailsight.reports import budget
from tailsight.reports.schedule import cron_trigger
from tailsight.reports.week import last_full_week, parse_week


def test_weeks_in_a_time_zone() -> None:
    week = parse_week("2026-W48", "Europe/Berlin")
    assert week.start == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # Monday 00:00 CET
    assert week.end - week.start == timedelta(days=7)
    assert str(week.previous()) == "2026-W47" and str(week.next()) == "2026-W49"
    assert str(parse_week("2026-W53")) == "2026-W53"  # 2026 has 53 ISO weeks
    # Sunday 23:30 UTC is already Monday in Berlin: the week that just ended is the last full one.
    now = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert str(last_full_week(now, "UTC")) == "2026-W47"
    assert str(last_full_week(now, "Europe/Berlin")) == "2026-W48"
    with pytest.raises(ValueError, match="2026-W60"):
        parse_week("2026-W60")
    with pytest.raises(ValueError, match="ISO week"):
        parse_week("last week")
    with pytest.raises(ValueError, match="Mars/Olympus"):
        parse_week("2026-W48", "Mars/Olympus")


def test_budget_arithmetic() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    day = timedelta(days=1)
    # Four days, 1000 events a day; 5, 0, 20, 5 bad: 30 bad of 40 allowed (99% target).
    buckets = [(t0 + i * day, 1000 - bad, 1000) for i, bad in enumerate((5, 0, 20, 5))]
    allowed = budget.budget_events(0.99, 4000)
    assert allowed == pytest.approx(40)
    points = budget.burn_down(buckets, 0.99, [t0 + i * day for i in range(4)], t0 + 4 * day)
    assert [round(p.remaining, 4) for p in points] == [1.0, 0.875, 0.875, 0.375, 0.25]
    assert budget.bad_between(buckets, t0 + 2 * day, t0 + 3 * day) == 20
    days = budget.daily(buckets, [t0, t0 + 2 * day], t0 + 4 * day)
    assert [(d.good, d.total) for d in days] == [(1995, 2000), (1975, 2000)]
    assert budget.status(-0.1, 0.5, 0.25, 10) == "breached"
    assert budget.status(0.2, 0.1, 0.25, 10) == "at_risk"  # little left
    assert budget.status(0.6, 0.3, 0.25, 10) == "at_risk"  # burning faster than even
    assert budget.status(0.8, 0.1, 0.25, 10) == "met"
    assert budget.status(1.0, 0.0, 0.25, 0) == "no_data"


def test_schedule_takes_crontab_or_seconds_first() -> None:
    monday = cron_trigger("0 8 * * MON", "Europe/Berlin")
    after = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    fire = monday.get_next_fire_time(None, after)
    assert fire is not None and fire.astimezone(UTC) == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    every = cron_trigger("*/5 * * * * *", "UTC")
    fire = every.get_next_fire_time(None, after + timedelta(seconds=1))
    assert fire is not None and fire.astimezone(UTC) == after + timedelta(seconds=5)
    with pytest.raises(ValueError, match="'every monday'"):
        cron_trigger("every monday", "UTC")
    with pytest.raises(ValueError, match="'0 8 \\* \\* XYZ'"):
        cron_trigger("0 8 * * XYZ", "UTC")
