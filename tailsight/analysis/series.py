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
    ids = frame.groupby(series_key(frame), sort=False, dropna=False).ngroup()
    frame = frame.assign(_series=ids.to_numpy()).sort_values(["_series", "window"], kind="stable")
    value = (frame["total"] / frame["points"].clip(lower=1)).to_numpy(dtype=float, copy=True)
    is_sum = (frame["kind"] == "sum").to_numpy()
    delta = is_sum & (frame["temporality"] == DELTA).to_numpy()
    value[delta] = frame["total"].clip(lower=0).to_numpy(dtype=float)[delta] / bucket_s
    cumulative = is_sum & ~delta
    if cumulative.any():
        value[cumulative] = cumulative_rates(
            frame[cumulative], max_gap_s, frame["_series"][cumulative]
        )
    return frame.assign(value=value).drop(columns="_series").reset_index(drop=True)


def cumulative_rates(
    series: pd.DataFrame, max_gap_s: float = 120.0, ids: pd.Series | None = None
) -> np.ndarray:
    """Per-window rate of cumulative counter windows sorted by (series, time); NaN where unknown.

    ``ids`` tells series apart (one series when omitted).
    """
    last = series["last"].to_numpy(dtype=float)
    first = series["first"].to_numpy(dtype=float)
    last_t = series["last_time"].to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
    first_t = series["first_time"].to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
    sid = np.zeros(len(last), dtype=np.int64) if ids is None else ids.to_numpy()
    same = np.zeros(len(last), dtype=bool)
    same[1:] = sid[1:] == sid[:-1]
    prev_last = np.roll(last, 1)
    gap = last_t - np.roll(last_t, 1)
    use_prev = same & (gap > 0) & (gap <= max_gap_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        increase = last - prev_last
        increase = np.where(increase < 0, last, increase)  # a reset: what was counted since it
        from_prev = increase / gap
        own = last - first
        own = np.where(own < 0, last, own)
        span = last_t - first_t
        from_own = np.where(span > 0, own / span, np.nan)
    return np.where(use_prev, from_prev, from_own)


def bucket_values(frame: pd.DataFrame, step_s: float) -> pd.DataFrame:
    """Coarse buckets (``storage.dashboard_metrics.metric_buckets``) with a ``value`` column.

    Gauges: the mean of the bucket's points. Delta sums: the bucket's total over its
    length. Cumulative sums: the increase between the bucket's first and last point over
    the time between them; NaN where the bucket holds one point. A last value below the
    bucket's peak means the counter was reset inside the bucket: the increase is then the
    climb from the first point to the peak plus the value counted since the reset (exact
    for one reset whose new count stays below the old peak, as a 5-minute bucket of
    a restarted exporter has). Dashboards draw minutes to hours per bucket, where
    the increase across a bucket edge is a rounding error; analysis uses ``with_values``.
    """
    if frame.empty:
        return frame.assign(value=pd.Series(dtype=float))
    total = frame["total"].to_numpy(dtype=float)
    points = frame["points"].to_numpy(dtype=float)
    value = total / np.maximum(points, 1.0)
    is_sum = (frame["kind"] == "sum").to_numpy()
    delta = is_sum & (frame["temporality"] == DELTA).to_numpy()
    value[delta] = np.maximum(total[delta], 0.0) / step_s
    cumulative = is_sum & ~delta
    if cumulative.any():
        last = frame["last"].to_numpy(dtype=float)
        first = frame["first"].to_numpy(dtype=float)
        span = (
            frame["last_time"].to_numpy(dtype="datetime64[ns]").astype("int64")
            - frame["first_time"].to_numpy(dtype="datetime64[ns]").astype("int64")
        ) / 1e9
        peak = frame["peak"].to_numpy(dtype=float)
        increase = np.where(last >= peak, last - first, np.maximum(peak - first, 0.0) + last)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(span > 0, increase / span, np.nan)
        value[cumulative] = rate[cumulative]
    return frame.assign(value=value)
