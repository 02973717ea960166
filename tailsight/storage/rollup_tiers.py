"""Which rollup tier a dashboard query reads: 10 s, 1 min or 5 min (migrations 4 and 11).

A chart of ~300 buckets over a day needs 5-minute rows, not 10-second ones: the coarsest
tier whose window divides the chart's step gives the same buckets from up to 30 times
fewer rows. A summary over a whole range (no step) reads the coarsest tier whose window
is at most ``EDGE_FRACTION`` of the range, since its first and last windows are then
counted whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from tailsight.storage.migrations.m0011_dashboard_rollups import SPLIT_ATTRIBUTES

EDGE_FRACTION = 1 / 60


@dataclass(frozen=True)
class Tier:
    """One rollup tier: its window in seconds and its tables."""

    seconds: int
    metrics: str
    latency: str

    @property
    def coarse(self) -> bool:
        """True for the tiers of migration 11: tuples for first/last, attribute columns."""
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
    Tier(300, "tailsight_metrics_5m", "tailsight_latency_5m"),
    Tier(60, "tailsight_metrics_1m", "tailsight_latency_1m"),
    Tier(10, "tailsight_metrics_10s", "tailsight_latency_10s"),
)


def tier_for(step_s: int | None, range_s: float) -> Tier:
    """The coarsest tier for buckets of ``step_s`` (``None``: one bucket over ``range_s``)."""
    for tier in TIERS:
        if step_s is None:
            if tier.seconds <= range_s * EDGE_FRACTION:
                return tier
        elif step_s % tier.seconds == 0:
            return tier
    return TIERS[-1]
