"""Evaluating SLOs on stored data: good and total per window, then SLI, budget and burn rates.

Span sources read the SLO rollup (migration 7): one query for every SLO and window of a
cycle, whose rows carry a latency histogram, so each threshold is counted here without
another query. Metric sources read raw histogram points (``otel_metrics_histogram``),
one query per distinct selector, and turn them into increments: delta points as they
are, cumulative ones as differences with a drop (or a new start time) read as a reset.

Windows end with the 10 s rollup window that holds ``now`` (the one still filling), so
spans stored late for a window already evaluated are counted at the next evaluation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from tailsight.alerts.burnrate import burn_rate, error_budget_remaining, sli
from tailsight.alerts.slo import MetricSelector, Selector, Slo, SloStatus, SpanSelector
from tailsight.storage.alerts import firing_by_slo
from tailsight.storage.slo_queries import (
    ROLLUP_S,
    HistogramPoints,
    SpanCounts,
    histogram_points,
    latency_key,
    span_series_counts,
    span_window_counts,
)
from tailsight.storage.store import Store

# How far before a window a cumulative histogram's previous point is looked for.
CUMULATIVE_LOOKBACK_S = 3600


def window_end(now: datetime) -> int:
    """The exclusive end of every window: the end of the 10 s rollup window holding ``now``."""
    return (int(now.timestamp()) // ROLLUP_S + 1) * ROLLUP_S


def period_start(now: datetime, unit: str, time_zone: str = "UTC") -> datetime:
    """Start of the calendar day, ISO week, month, quarter or year holding ``now`` in ``time_zone``."""
    local = now.astimezone(ZoneInfo(time_zone))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        start = day
    elif unit == "w":
        start = day - timedelta(days=day.weekday())
    elif unit == "M":
        start = day.replace(day=1)
    elif unit == "Q":
        start = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    elif unit == "Y":
        start = day.replace(month=1, day=1)
    else:
        raise ValueError(f"unknown calendar unit {unit!r}")
    # Re-localise: a period that began before a DST change has the offset of its own start.
    return start.replace(tzinfo=None).replace(tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


def slo_window_start(slo: Slo, end: int, now: datetime) -> int:
    """Unix start of the SLO window ending at ``end``: rolling, or the current calendar period."""
    if slo.rolling:
        return end - slo.window_s
    start = int(period_start(now, slo.calendar, slo.time_zone).timestamp())
    return start // ROLLUP_S * ROLLUP_S


def count_spans(rows: Sequence[SpanCounts], selector: SpanSelector) -> float:
    """Adjusted count of the requests ``selector`` keeps among rollup rows of its service."""
    total = 0.0
    threshold = None
    if selector.max_duration_ms is not None:
        threshold = np.uint64(latency_key(selector.max_duration_ms))
    for row in rows:
        if selector.operation is not None and row.operation != selector.operation:
            continue
        if threshold is None:
            total += row.requests - row.failures if selector.ok else row.requests
            continue
        # keys are 2*ceil3(d) + failed: at or under 2T+1 means d <= T, even means ok.
        mask = row.keys <= threshold
        if selector.ok:
            mask &= (row.keys & np.uint64(1)) == 0
        total += float(row.weights[mask].sum())
    return total


def histogram_increments(points: HistogramPoints, first_start: float) -> tuple[np.ndarray, ...]:
    """(time, good, total) increments of histogram points, resets handled.

    A delta point is its own increment. A cumulative point adds its difference from the
    previous point of its series; a drop in the count, or a later start time, is a reset,
    after which the point's own values are the increment (never a negative rate). The
    first point of a series adds its values at the series' start time, and only when the
    series started at or after ``first_start`` (else its base precedes the data read).
    """
    n = len(points.time_s)
    if n == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    same = np.zeros(n, dtype=bool)
    same[1:] = points.series[1:] == points.series[:-1]
    prev_count = np.roll(points.count, 1)
    prev_good = np.roll(points.good, 1)
    prev_start = np.roll(points.start_time_s, 1)
    reset = same & ((points.count < prev_count) | (points.start_time_s > prev_start))
    cumulative = points.temporality == 2
    d_total = np.where(same & ~reset, points.count - prev_count, points.count)
    d_good = np.where(same & ~reset, points.good - prev_good, points.good)
    unknown_base = cumulative & ~same & (points.start_time_s < first_start)
    d_total = np.where(cumulative, np.where(unknown_base, 0.0, d_total), points.count)
    d_good = np.where(cumulative, np.where(unknown_base, 0.0, d_good), points.good)
    # A series' first point counts what happened since the series started: placed there.
    times = np.where(cumulative & ~same, points.start_time_s, points.time_s)
    return times, np.maximum(d_good, 0.0), np.maximum(d_total, 0.0)


class _MetricSource:
    """Increments of the metric selectors of a cycle, each read once."""

    def __init__(self, store: Store, start: int, end: int) -> None:
        self.store, self.start, self.end = store, start, end
        self._cache: dict[MetricSelector, tuple[np.ndarray, ...]] = {}

    def increments(self, selector: MetricSelector) -> tuple[np.ndarray, ...]:
        if selector not in self._cache:
            points = histogram_points(
                self.store,
                selector.name,
                selector.attributes,
                selector.max_value,
                self.start - CUMULATIVE_LOOKBACK_S,
                self.end,
            )
            times, good, total = histogram_increments(points, self.start - CUMULATIVE_LOOKBACK_S)
            self._cache[selector] = (times, good if selector.max_value is not None else total)
        return self._cache[selector]

    def count(self, selector: MetricSelector, start: int) -> float:
        times, values = self.increments(selector)
        return float(values[(times >= start) & (times < self.end)].sum())


def evaluate_slos(store: Store, slos: Sequence[Slo], now: datetime) -> list[SloStatus]:
    """Every SLO's status at ``now``: one rollup query for all span sources and windows."""
    if not slos:
        return []
    end = window_end(now)
    starts: dict[int, int] = {}  # unix start -> index
    plans: list[tuple[Slo, dict[str, int], int]] = []
    for slo in slos:
        keys = {k: end - s for k, s in slo.windows.items()}
        slo_start = slo_window_start(slo, end, now)
        for start in (*keys.values(), slo_start):
            starts.setdefault(start, len(starts))
        plans.append((slo, keys, slo_start))
    services = sorted(
        {s.service for slo in slos for s in (slo.good, slo.total) if isinstance(s, SpanSelector)}
    )
    ordered = sorted(starts, key=starts.__getitem__)
    by_key: dict[tuple[str, int], list[SpanCounts]] = defaultdict(list)
    for row in span_window_counts(store, services, ordered, end):
        by_key[(row.service, ordered[row.window])].append(row)
    metrics = _MetricSource(store, min(starts), end)

    def count(selector: Selector, start: int) -> float:
        if isinstance(selector, SpanSelector):
            return count_spans(by_key.get((selector.service, start), []), selector)
        return metrics.count(selector, start)

    at = datetime.fromtimestamp(end, UTC)
    out = []
    for slo, keys, slo_start in plans:
        good: dict[str, float] = {}
        requests: dict[str, float] = {}
        rates: dict[str, float | None] = {}
        for key, start in keys.items():
            total = count(slo.total, start)
            good[key] = min(count(slo.good, start), total)
            requests[key] = total
            rates[key] = burn_rate(good[key], total, slo.target)
        w_total = count(slo.total, slo_start)
        w_good = min(count(slo.good, slo_start), w_total)
        out.append(
            SloStatus(
                slo=slo,
                at=at,
                sli=sli(w_good, w_total),
                error_budget_remaining=error_budget_remaining(w_good, w_total, slo.target),
                burn_rates=rates,
                requests=requests,
                good=good,
                window_requests=w_total,
                window_good=w_good,
                window_start=datetime.fromtimestamp(slo_start, UTC),
            )
        )
    return out


def sli_series(
    store: Store, slo: Slo, start: datetime, end: datetime, step_s: int
) -> list[tuple[datetime, float, float]]:
    """(bucket start, good, total) per ``step_s`` from ``start`` to ``end``, empty buckets as zeros.

    For daily SLI points and error-budget burn-down charts; ``step_s`` is a multiple of
    10 s, and whole hours read the hourly rollup when ``start`` is on the hour.
    """
    if step_s <= 0 or step_s % ROLLUP_S:
        raise ValueError(f"step_s must be a positive multiple of {ROLLUP_S}, not {step_s}")
    lo = int(start.timestamp()) // ROLLUP_S * ROLLUP_S
    hi = -(-int(end.timestamp()) // ROLLUP_S) * ROLLUP_S
    buckets = list(range(lo, hi, step_s))
    values: dict[str, dict[int, float]] = {}
    for side, selector in (("good", slo.good), ("total", slo.total)):
        per: dict[int, float] = defaultdict(float)
        if isinstance(selector, SpanSelector):
            rows = span_series_counts(store, [selector.service], lo, hi, step_s)
            grouped: dict[int, list[SpanCounts]] = defaultdict(list)
            for row in rows:
                grouped[row.window].append(row)
            for bucket, group in grouped.items():
                per[bucket] = count_spans(group, selector)
        else:
            points = histogram_points(
                store,
                selector.name,
                selector.attributes,
                selector.max_value,
                lo - CUMULATIVE_LOOKBACK_S,
                hi,
            )
            times, good, total = histogram_increments(points, lo - CUMULATIVE_LOOKBACK_S)
            chosen = good if selector.max_value is not None else total
            keep = times >= lo
            for t, v in zip(times[keep], chosen[keep], strict=True):
                per[lo + (int(t) - lo) // step_s * step_s] += float(v)
        values[side] = per
    return [
        (
            datetime.fromtimestamp(b, UTC),
            min(values["good"].get(b, 0.0), values["total"].get(b, 0.0)),
            values["total"].get(b, 0.0),
        )
        for b in buckets
    ]


def slo_list(
    store: Store,
    slos: Sequence[Slo],
    now: datetime,
) -> list[dict[str, Any]]:
    """CONTRACT §6's answer of ``GET /api/v1/slos`` and ``slo list --json``, by service and name."""
    statuses = evaluate_slos(store, slos, now)
    statuses.sort(key=lambda s: (s.slo.service, s.slo.name))
    firing = firing_by_slo(store)
    return [s.to_json(firing.get(s.slo.name, 0)) for s in statuses]
