"""What the dashboards read about services, replicas and traces, from the latency rollup.

Every query here reads a latency rollup tier (``storage.rollup_tiers``: 5 min for a day,
10 s for minutes, whole hours of a whole-range total from the hourly tier; migrations 4,
11 and 15) merged to the step a page draws at, never the raw
spans over a range: a day of a large fleet is then a few hundred thousand rollup rows.
The exceptions read ``otel_traces`` bounded by both time and ``LIMIT``: a few slow
example traces of one incident and their span trees, and a sample of a service's calls
into other services.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from tailsight.storage.rollup_tiers import summary_source, tier_for
from tailsight.storage.store import Store

_BUCKET = "toStartOfInterval(Window, toIntervalSecond({step:UInt32}), 'UTC')"
_RANGE = "Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}"

SERVICE_SERIES_COLUMNS = ["service", "t", "requests", "failures", "p50_ms", "p99_ms"]


def service_series(store: Store, start: datetime, end: datetime, step_s: int) -> pd.DataFrame:
    """Per service and ``step_s`` bucket: stored server spans, failures, p50 and p99 in ms."""
    table = tier_for(step_s, (end - start).total_seconds()).latency
    sql = f"""
        SELECT Service, {_BUCKET} AS t, sum(Requests), sum(Failures),
               quantilesTDigestMerge(0.5, 0.99)(Latency) AS q
        FROM {table}
        WHERE {_RANGE}
        GROUP BY Service, t
        ORDER BY Service, t
    """
    rows = store.rows(sql, {"step": step_s, "start": start, "end": end})
    return _timed(
        [(s, t, int(n), int(f), q[0] / 1e6, q[1] / 1e6) for s, t, n, f, q in rows],
        SERVICE_SERIES_COLUMNS,
    )


def service_totals(store: Store, start: datetime, end: datetime) -> pd.DataFrame:
    """Per service over the whole range: requests, failures, p50 and p99 in ms."""
    source = summary_source(start, end)
    sql = f"""
        SELECT Service, sum(Requests), sum(Failures),
               quantilesTDigestMerge(0.5, 0.99)(Latency) AS q
        FROM {source.latency(_RANGE)}
        GROUP BY Service
        ORDER BY Service
    """
    rows = store.rows(sql, {"start": start, "end": end, **source.params})
    return pd.DataFrame(
        [(s, int(n), int(f), q[0] / 1e6, q[1] / 1e6) for s, n, f, q in rows],
        columns=["service", "requests", "failures", "p50_ms", "p99_ms"],
    )


def replica_series(
    store: Store, service: str, start: datetime, end: datetime, step_s: int
) -> pd.DataFrame:
    """Per replica (host, pid) of ``service`` and bucket: requests and p99 in ms (heat map)."""
    table = tier_for(step_s, (end - start).total_seconds()).latency
    sql = f"""
        SELECT Host, Pid, {_BUCKET} AS t, sum(Requests), quantilesTDigestMerge(0.99)(Latency) AS q
        FROM {table}
        WHERE Service = {{service:String}} AND {_RANGE}
        GROUP BY Host, Pid, t
        ORDER BY Host, Pid, t
    """
    rows = store.rows(sql, {"step": step_s, "start": start, "end": end, "service": service})
    return _timed(
        [(h, p, t, int(n), q[0] / 1e6) for h, p, t, n, q in rows],
        ["host", "pid", "t", "requests", "p99_ms"],
    )


def operation_totals(store: Store, service: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per operation (span name) of ``service`` over the range: requests, failures, p99 in ms."""
    source = summary_source(start, end)
    sql = f"""
        SELECT Operation, sum(Requests), sum(Failures), quantilesTDigestMerge(0.99)(Latency) AS q
        FROM {source.latency(f"Service = {{service:String}} AND {_RANGE}")}
        GROUP BY Operation
        ORDER BY Operation
    """
    rows = store.rows(sql, {"start": start, "end": end, "service": service, **source.params})
    return pd.DataFrame(
        [(o, int(n), int(f), q[0] / 1e6) for o, n, f, q in rows],
        columns=["operation", "requests", "failures", "p99_ms"],
    )


def downstream_sample(
    store: Store, service: str, end: datetime, sample_s: float = 300.0, limit: int = 5000
) -> pd.DataFrame:
    """Calls from ``service`` into other services over the last ``sample_s`` before ``end``.

    Bounded twice (a few minutes, at most ``limit`` parent spans) so a page never scans a
    range of raw spans: per downstream service, calls and the p50/p99 of their server time.
    """
    start = end - timedelta(seconds=sample_s)
    sql = """
        SELECT child.ServiceName AS downstream, count() AS calls,
               quantileTDigest(0.5)(child.Duration) / 1e6 AS p50_ms,
               quantileTDigest(0.99)(child.Duration) / 1e6 AS p99_ms
        FROM otel_traces AS child
        INNER JOIN (
            SELECT TraceId, SpanId FROM otel_traces
            WHERE ServiceName = {service:String}
              AND Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
            LIMIT {limit:UInt32}
        ) AS parent
        ON child.TraceId = parent.TraceId AND child.ParentSpanId = parent.SpanId
        WHERE child.ServiceName != {service:String}
          AND child.Timestamp >= {start:DateTime64(9)} AND child.Timestamp < {end:DateTime64(9)}
        GROUP BY downstream
        ORDER BY p99_ms DESC
    """
    params = {"service": service, "start": start, "end": end, "limit": limit}
    return pd.DataFrame(
        store.rows(sql, params), columns=["downstream", "calls", "p50_ms", "p99_ms"]
    )


def slow_traces(
    store: Store, service: str, start: datetime, end: datetime, limit: int = 5
) -> pd.DataFrame:
    """The ``limit`` slowest server spans of ``service`` in ``[start, end)``: trace id, time, ms."""
    sql = """
        SELECT TraceId, Timestamp, Duration / 1e6 AS ms, SpanName,
               ResourceAttributes['host.name'] AS host, ResourceAttributes['process.pid'] AS pid
        FROM otel_traces
        WHERE ServiceName = {service:String} AND SpanKind = 'Server'
          AND Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
        ORDER BY Duration DESC
        LIMIT {limit:UInt32}
    """
    rows = store.rows(sql, {"service": service, "start": start, "end": end, "limit": limit})
    frame = pd.DataFrame(rows, columns=["trace_id", "time", "ms", "operation", "host", "pid"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def trace_spans(
    store: Store, trace_ids: list[str], start: datetime, end: datetime, limit: int = 2000
) -> pd.DataFrame:
    """The spans of ``trace_ids`` (timestamps within ``[start, end)``), for span trees."""
    if not trace_ids:
        return pd.DataFrame(
            columns=["trace_id", "span_id", "parent_id", "service", "name", "kind", "start", "ms"]
        )
    sql = """
        SELECT TraceId, SpanId, ParentSpanId, ServiceName, SpanName, SpanKind, Timestamp,
               Duration / 1e6
        FROM otel_traces
        WHERE TraceId IN {ids:Array(String)}
          AND Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
        ORDER BY TraceId, Timestamp
        LIMIT {limit:UInt32}
    """
    rows = store.rows(sql, {"ids": trace_ids, "start": start, "end": end, "limit": limit})
    frame = pd.DataFrame(
        rows,
        columns=["trace_id", "span_id", "parent_id", "service", "name", "kind", "start", "ms"],
    )
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    return frame


def _timed(rows: list[tuple[object, ...]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame["t"] = pd.to_datetime(frame["t"], utc=True)
    return frame
