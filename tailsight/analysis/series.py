"""Metric series to per-window values: counter rates with resets and gaps handled, gauge means.

Input is the rollup frame of ``storage.queries_metrics.metric_windows``: per series and
10 s window, the first and last value with their times, the sum of values, the point
count and the peak. Output adds ``value``: a rate per second for sums, the mean for
gauges.

Cumulative counters (OTLP temporality 2): the increase over a window is its last value
minus the previous window's last; a drop is a reset, and the increase is then the value
counted since the reset (the new last value), never negative. The rate divides by the
time actually elapsed between those last points, so a clock gap or missed scrapes give
an average over the gap rather than a burst. After a gap longer than ``max_gap_s`` the
previous point is too old to place the increase in time; the window's own first→last
span is used instead. Delta sums (temporality 1) add up the window's deltas (negative
ones count as zero) over the window length.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CUMULATIVE = 2
DELTA = 1
TIME_COLUMNS = ("window", "first", "last", "first_time", "last_time", "total", "points", "peak")


def series_key(frame: pd.DataFrame) -> list[str]:
    """The columns that identify one series in a rollup frame."""
    return [c for c in frame.columns if c not in TIME_COLUMNS and c != "value"]


def with_values(
    frame: pd.DataFrame, bucket_s: float = 10.0, max_gap_s: float = 120.0
) -> pd.DataFrame:
    """``frame`` with a ``value`` column: rate per second for sums, mean for gauges."""
    if frame.empty:
        return frame.assign(value=pd.Series(dtype=float))
    parts = []
    for _, series in frame.groupby(series_key(frame), sort=False, dropna=False):
        parts.append(_series_values(series.sort_values("window"), bucket_s, max_gap_s))
    return pd.concat(parts, ignore_index=True)


def _series_values(series: pd.DataFrame, bucket_s: float, max_gap_s: float) -> pd.DataFrame:
    kind = series["kind"].iloc[0]
    if kind != "sum":
        return series.assign(value=series["total"] / series["points"].clip(lower=1))
    if int(series["temporality"].iloc[0]) == DELTA:
        return series.assign(value=series["total"].clip(lower=0) / bucket_s)
    return series.assign(value=cumulative_rates(series, max_gap_s))


def cumulative_rates(series: pd.DataFrame, max_gap_s: float = 120.0) -> np.ndarray:
    """Per-window rate of one cumulative counter's windows, sorted by time; NaN where unknown."""
    last = series["last"].to_numpy(dtype=float)
    first = series["first"].to_numpy(dtype=float)
    last_t = series["last_time"].to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
    first_t = series["first_time"].to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
    rates = np.full(len(last), np.nan)
    for i in range(len(last)):
        gap = last_t[i] - last_t[i - 1] if i else np.inf
        if 0 < gap <= max_gap_s:
            increase = last[i] - last[i - 1]
            if increase < 0:  # a reset: what was counted since it
                increase = last[i]
            rates[i] = increase / gap
        elif last_t[i] > first_t[i]:
            increase = last[i] - first[i]
            rates[i] = (last[i] if increase < 0 else increase) / (last_t[i] - first_t[i])
    return rates
