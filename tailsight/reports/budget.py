"""Error-budget arithmetic of the report, pure: from ``(bucket, good, total)`` counts to figures.

The budget of an SLO window is the number of bad events it allows: ``(1 - target)`` times
the events in the window (budgetingMethod Occurrences). The report is written after the
week, so it divides by the whole window's events: the burn-down then ends exactly at the
budget left at the week's end, and each day's step is that day's share of the budget.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime

from tailsight.reports.model import BudgetPoint, SliDay

Buckets = Sequence[tuple[datetime, float, float]]  # (bucket start, good, total), sorted

# At or below this much budget left, or burning faster than the window allows, an SLO is at risk.
AT_RISK_REMAINING = 0.25


def totals(
    buckets: Buckets, start: datetime | None = None, end: datetime | None = None
) -> tuple[float, float]:
    """``(good, total)`` of the buckets starting in ``[start, end)`` (all when not given)."""
    good = total = 0.0
    for at, g, t in buckets:
        if (start is None or at >= start) and (end is None or at < end):
            good += g
            total += t
    return good, total


def budget_events(target: float, total: float) -> float:
    """Bad events the window allows."""
    return (1.0 - target) * total


def share(bad: float, allowed: float) -> float:
    """The fraction of the budget ``bad`` events use (0 when the window saw no events)."""
    return bad / allowed if allowed > 0 else 0.0


def daily(buckets: Buckets, days: Sequence[datetime], end: datetime) -> list[SliDay]:
    """Good and total per day, ``days`` being the day starts and ``end`` the last day's end."""
    edges = [*days, end]
    out = []
    for i, day in enumerate(days):
        g, t = totals(buckets, day, edges[i + 1])
        out.append(SliDay(day, g, t))
    return out


def burn_down(
    buckets: Buckets, target: float, days: Sequence[datetime], end: datetime
) -> list[BudgetPoint]:
    """Budget left at the start of each day and at ``end``, over the window the buckets cover."""
    _, total = totals(buckets)
    allowed = budget_events(target, total)
    points = []
    bad = 0.0
    edges = [*days, end]
    for i, edge in enumerate(edges):
        if i:
            g, t = totals(buckets, edges[i - 1], edge)
            bad += t - g
        points.append(BudgetPoint(edge, 1.0 - share(bad, allowed)))
    return points


def bad_between(buckets: Buckets, start: datetime, end: datetime) -> float:
    """Bad events in the buckets that start in ``[start, end)``."""
    times = [b[0] for b in buckets]
    lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
    return float(sum(t - g for _, g, t in buckets[lo:hi]))


def status(remaining: float, consumed_week: float, week_fraction: float, total: float) -> str:
    """``breached`` once the budget is overspent; ``at_risk`` when little is left or this week
    burnt more than its even share of the window (``week_fraction`` = week / window)."""
    if total == 0:
        return "no_data"
    if remaining < 0:
        return "breached"
    if remaining <= AT_RISK_REMAINING or consumed_week > week_fraction:
        return "at_risk"
    return "met"
