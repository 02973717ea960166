"""SLO-rollup counts with the latency thresholds applied in the engine: the weekly report's reads.

``slo_queries.span_series_counts`` returns each bucket's merged latency histogram, which
the evaluator counts against any threshold in Python. A report reads a whole SLO window
per service in hourly buckets (28 days x 24 h x 25 services: ~17 k histograms of
thousands of keys each), and decoding those histograms into Python was its slowest
query. Here the caller names the thresholds it needs (``Cut``: a latency key and whether
failures are bad), the engine sums each row's histogram below each cut, and a bucket
comes back as a handful of numbers. The histogram is a sum, so cutting each rollup row
and summing the cuts equals cutting the merged histogram.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tailsight.storage.migrations.m0007_slo_rollup import TIERS
from tailsight.storage.slo_queries import ROLLUP_S, latency_key, series_table
from tailsight.storage.store import Store


@dataclass(frozen=True, order=True)
class Cut:
    """Requests at or under a latency key (``slo_queries.latency_key``), failures too or not."""

    key: int
    ok_only: bool

    @classmethod
    def of(cls, max_duration_ms: float, ok_only: bool) -> Cut:
        return cls(latency_key(max_duration_ms), ok_only)


@dataclass(frozen=True)
class CutCounts:
    """Adjusted counts of one (service, operation) over one bucket, ``good[i]`` under ``cuts[i]``."""

    service: str
    operation: str
    window: int  # a bucket's unix start, or the index of an interval asked for
    requests: float
    failures: float
    good: tuple[float, ...]


# Each rollup row's histogram summed under every cut: keys at or under the cut's key, and
# even (not failed) keys only for an ok-only cut.
_CUTS = """arrayMap((c, o) -> arraySum((k, w) -> if(k <= c AND (o = 0 OR k % 2 = 0), w, 0.),
                                     Latency.1, Latency.2),
                    {cut_keys:Array(UInt64)}, {cut_ok:Array(UInt8)})"""


def _cut_params(cuts: Sequence[Cut]) -> dict[str, Any]:
    return {"cut_keys": [c.key for c in cuts], "cut_ok": [int(c.ok_only) for c in cuts]}


def _row(row: Sequence[Any], n: int) -> CutCounts:
    service, operation, window, requests, failures, good = row
    return CutCounts(
        str(service),
        str(operation),
        int(window),
        float(requests),
        float(failures),
        tuple(float(g) for g in good) if n else (),
    )


def span_series_cuts(
    store: Store, services: Sequence[str], start: int, end: int, step_s: int, cuts: Sequence[Cut]
) -> list[CutCounts]:
    """Per service, operation and ``step_s`` bucket of ``[start, end)``: counts and cut counts.

    The same rows as ``span_series_counts`` (the coarsest tier whose step divides
    ``step_s`` and ``start``), the histogram replaced by its counts under ``cuts``.
    """
    table = series_table(start, step_s)
    sql = f"""
        SELECT Service, Operation,
               {{start:UInt32}} + intDiv(toUInt32(Window) - {{start:UInt32}}, {{step:UInt32}}) * {{step:UInt32}} AS b,
               sum(Requests), sum(Failures), sumForEach(cut)
        FROM (
            SELECT Service, Operation, Window, Requests, Failures, {_CUTS} AS cut
            FROM {table}
            WHERE Service IN {{services:Array(String)}}
              AND Window >= toDateTime({{start:UInt32}}) AND Window < toDateTime({{end:UInt32}})
        )
        GROUP BY Service, Operation, b
        ORDER BY b
    """
    params = {
        "services": list(services),
        "start": start,
        "end": end,
        "step": step_s,
        **_cut_params(cuts),
    }
    return [_row(row, len(cuts)) for row in store.rows(sql, params)]


def span_interval_cuts(
    store: Store, intervals: Sequence[tuple[str, int, int]], cuts: Sequence[Cut]
) -> list[CutCounts]:
    """Per interval ``(service, start, end)`` (10 s boundaries) and operation: counts and cut counts.

    ``window`` is the interval's index. One query for every interval (a report's
    incidents: a few hundred), joined to the 10 s rollup windows they cover.
    """
    services, windows, index = [], [], []
    for i, (service, start, end) in enumerate(intervals):
        if start % ROLLUP_S or end % ROLLUP_S:
            raise ValueError(f"interval {start}..{end} is not on {ROLLUP_S} s boundaries")
        for w in range(start, end, ROLLUP_S):
            services.append(service)
            windows.append(w)
            index.append(i)
    if not windows:
        return []
    sql = f"""
        SELECT r.Service, r.Operation, iv.i, sum(r.Requests), sum(r.Failures), sumForEach(r.cut)
        FROM (
            SELECT Service, Operation, toUInt32(Window) AS w, Requests, Failures, {_CUTS} AS cut
            FROM {TIERS[0][1]}
            WHERE Service IN {{service_set:Array(String)}}
              AND Window >= toDateTime({{lo:UInt32}}) AND Window < toDateTime({{hi:UInt32}})
              AND toUInt32(Window) IN {{windows:Array(UInt32)}}
        ) AS r
        INNER JOIN (
            SELECT p.1 AS s, p.2 AS w, p.3 AS i
            FROM (SELECT arrayJoin(arrayZip({{services:Array(String)}}, {{windows:Array(UInt32)}},
                                            {{index:Array(UInt32)}})) AS p)
        ) AS iv ON r.Service = iv.s AND r.w = iv.w
        GROUP BY iv.i, r.Service, r.Operation
    """
    params = {
        "service_set": sorted(set(services)),
        "services": services,
        "windows": windows,
        "index": index,
        "lo": min(windows),
        "hi": max(windows) + ROLLUP_S,
        **_cut_params(cuts),
    }
    return [_row(row, len(cuts)) for row in store.rows(sql, params)]
