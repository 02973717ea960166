"""Queries behind SLO evaluation: the span rollup of migration 7, raw histogram points, raw spans.

Times cross this module as whole unix seconds. Span counts come back per (service,
operation) with the rollup's latency histogram merged, so the caller counts good events
for any threshold without another query (``alerts.evaluate``). The raw-span count is the
exact answer the rollup is checked and benchmarked against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tailsight.storage.migrations.m0007_slo_rollup import ADJUSTED_COUNT, FAILED, TIERS
from tailsight.storage.store import Store

ROLLUP_S = TIERS[0][0]


@dataclass(frozen=True)
class SpanCounts:
    """Adjusted counts of one (service, operation) over one window, with its histogram.

    ``keys`` are ``2 * ceil3(duration_ns) + failed`` (migration 7), ``weights`` their
    adjusted counts.
    """

    service: str
    operation: str
    window: int  # index into the windows asked for, or a bucket's unix start in series
    requests: float
    failures: float
    keys: np.ndarray
    weights: np.ndarray


def latency_key(max_duration_ms: float) -> int:
    """The histogram key at or under which a span took at most ``max_duration_ms``.

    Keys are ``2 * ceil3(d) + failed``; at or under ``2 * T + 1`` means ``d <= T``.
    """
    return round(max_duration_ms * 1e6) * 2 + 1


def _cover(start: int, end: int, tiers: int = len(TIERS)) -> list[tuple[int, int, int]]:
    """(tier, start, end) ranges that cover ``[start, end)`` exactly, coarsest in the middle."""
    if start >= end:
        return []
    if tiers == 1:
        return [(0, start, end)]
    step = TIERS[tiers - 1][0]
    lo, hi = -(-start // step) * step, end // step * step
    if lo >= hi:
        return _cover(start, end, tiers - 1)
    return [*_cover(start, lo, tiers - 1), (tiers - 1, lo, hi), *_cover(hi, end, tiers - 1)]


def _merged(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def span_window_counts(
    store: Store, services: Sequence[str], starts: Sequence[int], end: int
) -> list[SpanCounts]:
    """Per service, operation and window ``[starts[i], end)``: counts and latency histograms.

    Every window is read from the coarsest rollup tiers that fit it (days, hours, then
    5 min and 10 s rows at its ragged ends), all windows in one query; ``start``/``end``
    are multiples of 10 s.
    The query aggregates each row once, into the disjoint segments the windows' ranges
    cut time into; a window then holds several rows per (service, operation), one per
    segment it covers (``SpanCounts`` shared between windows), which callers sum.
    """
    per_tier: list[list[tuple[int, int, int]]] = [[] for _ in TIERS]  # (window, start, end)
    for i, start in enumerate(starts):
        for tier, a, b in _cover(start, end):
            per_tier[tier].append((i, a, b))
    if not services:
        return []
    params: dict[str, object] = {"services": list(services)}
    parts = []
    cuts: dict[int, list[int]] = {}
    for tier, ranges in enumerate(per_tier):
        if not ranges:
            continue
        union = _merged([(a, b) for _, a, b in ranges])
        where = " OR ".join(
            f"(Window >= toDateTime({{t{tier}r{k}a:UInt32}}) "
            f"AND Window < toDateTime({{t{tier}r{k}b:UInt32}}))"
            for k in range(len(union))
        )
        for k, (a, b) in enumerate(union):
            params[f"t{tier}r{k}a"], params[f"t{tier}r{k}b"] = a, b
        cuts[tier] = sorted({t for _, a, b in ranges for t in (a, b)})
        params[f"t{tier}cuts"] = cuts[tier]
        # The segment of a row: how many cuts lie at or before its window.
        parts.append(
            f"""
            SELECT {tier} AS tier, Service, Operation, Requests, Failures, Latency,
                   arrayCount(c -> c <= toUInt32(Window), {{t{tier}cuts:Array(UInt32)}}) AS seg
            FROM {TIERS[tier][1]}
            WHERE Service IN {{services:Array(String)}} AND ({where})
            """
        )
    sql = f"""
        SELECT tier, Service, Operation, seg, sum(Requests), sum(Failures), sumMap(Latency)
        FROM ({" UNION ALL ".join(parts)})
        GROUP BY tier, Service, Operation, seg
    """
    out: list[SpanCounts] = []
    for tier, *row in store.rows(sql, params):
        counts = _counts(row)
        seg_start, seg_end = cuts[tier][counts.window - 1], cuts[tier][counts.window]
        for i, a, b in per_tier[tier]:
            if a <= seg_start and seg_end <= b:
                out.append(replace(counts, window=i))
    return out


def series_table(start: int, step_s: int) -> str:
    """The coarsest rollup tier whose step divides ``step_s`` and ``start``."""
    return next(
        name for seconds, name in reversed(TIERS) if step_s % seconds == 0 and start % seconds == 0
    )


def span_series_counts(
    store: Store, services: Sequence[str], start: int, end: int, step_s: int
) -> list[SpanCounts]:
    """Per service, operation and ``step_s`` bucket of ``[start, end)``: counts and histogram.

    ``window`` is the bucket's unix start. The coarsest rollup tier whose step divides
    ``step_s`` and ``start`` is read (daily points of whole UTC days read days).
    """
    table = series_table(start, step_s)
    sql = f"""
        SELECT Service, Operation,
               {{start:UInt32}} + intDiv(toUInt32(Window) - {{start:UInt32}}, {{step:UInt32}}) * {{step:UInt32}} AS b,
               sum(Requests), sum(Failures), sumMap(Latency)
        FROM {table}
        WHERE Service IN {{services:Array(String)}}
          AND Window >= toDateTime({{start:UInt32}}) AND Window < toDateTime({{end:UInt32}})
        GROUP BY Service, Operation, b
        ORDER BY b
    """
    params = {"services": list(services), "start": start, "end": end, "step": step_s}
    return [_counts(row) for row in store.rows(sql, params)]


def _counts(row: Sequence[Any]) -> SpanCounts:
    service, operation, window, requests, failures, (keys, weights) = row
    return SpanCounts(
        str(service),
        str(operation),
        int(window),
        float(requests),
        float(failures),
        np.asarray(keys, dtype=np.uint64),
        np.asarray(weights, dtype=np.float64),
    )


@dataclass(frozen=True)
class HistogramPoints:
    """Raw points of the histogram series one metric selector matches, ordered by series and time.

    ``good`` is the sum of the buckets whose upper bound is at or under the threshold
    (``count`` when there is none); ``temporality`` is OTLP's (1 delta, 2 cumulative).
    """

    series: np.ndarray
    time_s: np.ndarray
    start_time_s: np.ndarray
    temporality: np.ndarray
    count: np.ndarray
    good: np.ndarray


def histogram_points(
    store: Store,
    name: str,
    attributes: Sequence[tuple[str, str]],
    max_value: float | None,
    start: int,
    end: int,
) -> HistogramPoints:
    """Points of ``otel_metrics_histogram`` named ``name`` whose attributes (point or resource) match."""
    params: dict[str, object] = {"name": name, "start": start, "end": end}
    conditions = []
    for k, (key, value) in enumerate(attributes):
        params[f"k{k}"], params[f"v{k}"] = key, value
        conditions.append(
            f"(Attributes[{{k{k}:String}}] = {{v{k}:String}} "
            f"OR ResourceAttributes[{{k{k}:String}}] = {{v{k}:String}})"
        )
    good = "toFloat64(Count)"
    if max_value is not None:
        params["max_value"] = max_value
        good = (
            "arraySum(arrayMap((c, i) -> if(i <= length(ExplicitBounds) "
            "AND ExplicitBounds[i] <= {max_value:Float64}, toFloat64(c), 0.), "
            "BucketCounts, arrayEnumerate(BucketCounts)))"
        )
    sql = f"""
        SELECT cityHash64(ServiceName, ResourceAttributes, Attributes) AS series,
               toUnixTimestamp64Nano(TimeUnix) / 1e9, toUnixTimestamp64Nano(StartTimeUnix) / 1e9,
               AggregationTemporality, toFloat64(Count), {good}
        FROM otel_metrics_histogram
        WHERE MetricName = {{name:String}}
          AND TimeUnix >= toDateTime64({{start:UInt32}}, 9) AND TimeUnix < toDateTime64({{end:UInt32}}, 9)
          {"".join(" AND " + c for c in conditions)}
        ORDER BY series, TimeUnix
    """
    rows = store.rows(sql, params)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    return HistogramPoints(
        np.asarray(cols[0], dtype=np.uint64),
        np.asarray(cols[1], dtype=np.float64),
        np.asarray(cols[2], dtype=np.float64),
        np.asarray(cols[3], dtype=np.int32),
        np.asarray(cols[4], dtype=np.float64),
        np.asarray(cols[5], dtype=np.float64),
    )


def raw_span_counts(
    store: Store,
    service: str,
    operation: str | None,
    max_duration_ms: float | None,
    ok: bool,
    start: int,
    end: int,
) -> float:
    """Adjusted count of matching server spans in ``[start, end)``, from raw rows.

    The exact figure the rollup is checked against; the adjusted count reads ``tracestate``
    as migration 7 does.
    """
    return raw_span_window_counts(store, service, operation, max_duration_ms, ok, [start], end)[0]


def raw_span_window_counts(
    store: Store,
    service: str,
    operation: str | None,
    max_duration_ms: float | None,
    ok: bool,
    starts: Sequence[int],
    end: int,
) -> list[float]:
    """Adjusted counts of matching server spans in each ``[starts[i], end)``, from raw rows.

    What evaluation would cost without the rollup: one scan of the longest window per
    selector (``bench/slo_eval.py`` compares the two).
    """
    conditions = ["ServiceName = {service:String}", "SpanKind = 'Server'"]
    params: dict[str, object] = {
        "service": service,
        "starts": list(starts),
        "start": min(starts),
        "end": end,
    }
    if operation is not None:
        conditions.append("SpanName = {operation:String}")
        params["operation"] = operation
    if max_duration_ms is not None:
        conditions.append("Duration <= {max_ns:UInt64}")
        params["max_ns"] = round(max_duration_ms * 1e6)
    if ok:
        conditions.append(f"NOT ({FAILED})")
    sql = f"""
        SELECT sumForEach(arrayMap(s -> if(toUnixTimestamp(Timestamp) >= s, adj, 0.),
                                   {{starts:Array(UInt32)}}))
        FROM (
            SELECT Timestamp, {ADJUSTED_COUNT} AS adj
            FROM otel_traces
            WHERE {" AND ".join(conditions)}
              AND Timestamp >= toDateTime64({{start:UInt32}}, 9)
              AND Timestamp < toDateTime64({{end:UInt32}}, 9)
        )
    """
    found = store.rows(sql, params)[0][0]
    return [float(v) for v in found] if found else [0.0] * len(starts)
