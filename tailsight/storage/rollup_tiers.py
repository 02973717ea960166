"""Which rollup tier a dashboard query reads: 10 s to 1 h (migrations 4, 11 and 15).

A chart of ~150 buckets over a day needs 10-minute rows, not 10-second ones: the coarsest
tier whose window divides the chart's step gives the same buckets from up to 60 times
fewer rows. A summary over a whole range (no step) reads the coarsest tier whose window
is at most ``EDGE_FRACTION`` of the range (its "edge" tier), since its first and last
windows are then counted whole or not at all; :func:`summary_source` reads the whole
hours inside the range from the hourly tier instead and only the ragged edges from the
edge tier, which gives the same aggregates from 24 rows a series a day instead of 144.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tailsight.storage.migrations.m0011_dashboard_rollups import SPLIT_ATTRIBUTES

EDGE_FRACTION = 1 / 60
HOUR = 3600


@dataclass(frozen=True)
class Tier:
    """One rollup tier: its window in seconds and its tables."""

    seconds: int
    metrics: str
    latency: str

    @property
    def coarse(self) -> bool:
        """True for the tiers of migrations 11 and 15: tuples for first/last, attribute columns."""
        return self.seconds > 10

    def attribute(self, name: str, param: str) -> str:
        """SQL for the value of attribute ``name``: a column where the tier has one, else a look-up.

        ``param`` names the bound parameter holding ``name`` for the look-up.
        """
        if self.coarse:
            for column, attribute in SPLIT_ATTRIBUTES.items():
                if attribute == name:
                    return column
        return f"Attributes[{{{param}:String}}]"


TIERS: tuple[Tier, ...] = (
    Tier(HOUR, "tailsight_metrics_1h", "tailsight_latency_1h"),
    Tier(600, "tailsight_metrics_10m", "tailsight_latency_10m"),
    Tier(300, "tailsight_metrics_5m", "tailsight_latency_5m"),
    Tier(60, "tailsight_metrics_1m", "tailsight_latency_1m"),
    Tier(10, "tailsight_metrics_10s", "tailsight_latency_10s"),
)
HOURLY = TIERS[0]


def tier_for(step_s: int | None, range_s: float) -> Tier:
    """The coarsest tier for buckets of ``step_s`` (``None``: one bucket over ``range_s``)."""
    for tier in TIERS:
        if step_s is None:
            if tier.seconds <= range_s * EDGE_FRACTION:
                return tier
        elif step_s % tier.seconds == 0:
            return tier
    return TIERS[-1]


@dataclass(frozen=True)
class SummarySource:
    """Where a whole-range summary of ``[start, end)`` reads its rows.

    ``tier`` is the edge tier (what ``tier_for(None, …)`` gives); ``hours`` the whole
    hours inside the range that the hourly tier serves instead, when the edge tier is a
    coarse one finer than an hour and there are any. Windows of every coarse tier start
    on multiples of their width, so the hourly rows of ``hours`` hold exactly what the
    edge tier's rows there hold, and the union of the two halves is what the edge tier
    alone would give.
    """

    tier: Tier
    hours: tuple[datetime, datetime] | None = None
    params: dict[str, object] = field(default_factory=dict)

    def attribute(self, name: str, param: str) -> str:
        return self.tier.attribute(name, param)

    def metrics(self, where: str) -> str:
        """``<table expression> WHERE …`` over the metric tiers, filtered by ``where``."""
        return self._from(self.tier.metrics, HOURLY.metrics, where)

    def latency(self, where: str) -> str:
        """``<table expression> WHERE …`` over the latency tiers, filtered by ``where``."""
        return self._from(self.tier.latency, HOURLY.latency, where)

    def _from(self, edge: str, hourly: str, where: str) -> str:
        if self.hours is None:
            return f"{edge} WHERE {where}"
        inside = "Window >= {hour_start:DateTime64(3)} AND Window < {hour_end:DateTime64(3)}"
        return (
            f"(SELECT * FROM {hourly} WHERE ({where}) AND {inside}\n"
            f"  UNION ALL SELECT * FROM {edge} WHERE ({where}) AND NOT ({inside})) WHERE 1"
        )


def summary_source(start: datetime, end: datetime) -> SummarySource:
    """The tiers a summary over ``[start, end)`` reads (see :class:`SummarySource`)."""
    tier = tier_for(None, (end - start).total_seconds())
    if not tier.coarse or tier.seconds >= HOUR:
        return SummarySource(tier)
    first = _ceil_hour(start)
    last = _floor_hour(end)
    if last <= first:
        return SummarySource(tier)
    return SummarySource(tier, (first, last), {"hour_start": first, "hour_end": last})


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _floor_hour(ts: datetime) -> datetime:
    return _utc(ts).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(ts: datetime) -> datetime:
    floor = _floor_hour(ts)
    return floor if floor == _utc(ts) else floor + timedelta(hours=1)
