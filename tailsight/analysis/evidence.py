"""Evidence: a series' value before a spike against its value during it.

The baseline is the median over ``[onset - baseline_s, onset - guard_s)`` (robust to a
stray burst before the onset; the guard keeps a ramping fault's first seconds out of
it); ``during`` is the mean over ``[onset, until)``. Windows without a value (missing
series, clock gaps) are ignored; with too few on either side there is no evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Phases:
    """The time ranges compared for one incident."""

    onset: datetime
    until: datetime
    baseline_s: float = 900.0
    guard_s: float = 20.0
    min_windows: int = 2

    @property
    def baseline_start(self) -> datetime:
        return self.onset - timedelta(seconds=self.baseline_s)

    @property
    def baseline_end(self) -> datetime:
        return self.onset - timedelta(seconds=self.guard_s)


@dataclass(frozen=True)
class Change:
    """One series (or sum of series) before and during."""

    baseline: float
    during: float

    def rise(self, floor: float) -> float:
        """How many times the value grew, with ``floor`` keeping near-zero baselines sane."""
        return (self.during + floor) / (self.baseline + floor)

    @property
    def delta(self) -> float:
        return self.during - self.baseline


def per_window(values: pd.DataFrame) -> pd.Series:
    """Sum of ``value`` per window over the series of ``values`` (e.g. both directions)."""
    if values.empty:
        return pd.Series(dtype=float)
    value = values["value"].to_numpy(dtype=float)
    known = ~np.isnan(value)
    series = pd.Series(value[known], index=pd.DatetimeIndex(values["window"])[known])
    # One series has one row per window: no grouping needed (the common, hot case).
    if series.index.is_unique:
        return series.sort_index()
    return series.groupby(level=0).sum()


def change(series: pd.Series, phases: Phases) -> Change | None:
    """Baseline and during of a per-window series, or None when either side lacks data."""
    series = series.dropna()
    if series.empty:
        return None
    index = series.index
    before = series[(index >= phases.baseline_start) & (index < phases.baseline_end)]
    during = series[(index >= phases.onset) & (index < phases.until)]
    if len(before) < phases.min_windows or len(during) < 1:
        return None
    return Change(float(np.median(before)), float(np.mean(during)))


def change_of(values: pd.DataFrame, phases: Phases) -> Change | None:
    """``change`` of the per-window sum of the series in ``values``."""
    return change(per_window(values), phases)


def change_or_new(values: pd.DataFrame, reference: pd.DataFrame, phases: Phases) -> Change | None:
    """``change_of`` a process' series, counting windows where it is absent as 0.

    A process that started shortly before the spike has no earlier series: the windows
    where ``reference`` (all processes of the same source) has values and it has none
    are windows it did not run in. Where ``reference`` has nothing either (a gap in
    collection), nothing is assumed.
    """
    own = per_window(values)
    seen = per_window(reference).index
    if own.empty:
        return None
    return change(own.reindex(seen.union(own.index)).fillna(0.0), phases)
