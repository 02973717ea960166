"""Queries that turn stored telemetry into the latency frames ``analysis`` works on.

They read the ``tailsight_latency_10s`` rollup (migration 4): t-digest states per
service, operation, replica and 10 s window, merged here to the grain asked for.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from tailsight.storage.store import Store

# A rollup's 10 s ``Window`` put into the analysis' bucket (``{bucket}`` seconds).
WINDOW_SQL = "toStartOfInterval(Window, toIntervalSecond({bucket:UInt32}), 'UTC')"


def service_latency_windows(
    store: Store,
    start: datetime,
    end: datetime,
    bucket_s: int = 10,
    levels: tuple[float, ...] = (0.9, 0.95, 0.97, 0.98),
    trailing: bool = False,
) -> pd.DataFrame:
    """Per service and ``bucket_s`` window: requests, failures and p50/p99 latency in ms.

    Requests are server spans (CONTRACT §2); a window is labelled by its start time.
    ``requests_smooth``/``p99_smooth_ms`` merge the window with its two neighbours
    (t-digest states merged, not p99s averaged): with a few dozen sampled requests per
    window one window's p99 is close to its maximum, three windows' is steadier. The smoothed
    window's lower quantiles (``levels``: ``q90_smooth_ms`` for 0.9 ...) let detection check
    that a high p99 is held by several requests, not by one stalled request. ``trailing``
    merges a window with its predecessor only: what a live cycle sees of each window when
    it is the newest (``bench/alert_quiet_day.py`` replays the live edge with it).
    """
    following = "CURRENT ROW" if trailing else "{bucket:UInt32} FOLLOWING"
    quantiles = ", ".join(str(q) for q in (*levels, 0.99))
    sql = f"""
        SELECT Service, w, n, f, q,
               sum(n) OVER around AS n3,
               quantilesTDigestMerge({quantiles})(s) OVER around AS q3
        FROM (
            SELECT Service, {WINDOW_SQL} AS w, sum(Requests) AS n, sum(Failures) AS f,
                   quantilesTDigestMerge(0.5, 0.99)(Latency) AS q,
                   quantilesTDigestMergeState(0.5, 0.99)(Latency) AS s
            FROM tailsight_latency_10s
            WHERE Window >= toDateTime({{start:DateTime64(3)}}) AND Window < {{end:DateTime64(3)}}
            GROUP BY Service, w
        )
        WINDOW around AS (PARTITION BY Service ORDER BY w ASC
                          RANGE BETWEEN {{bucket:UInt32}} PRECEDING AND {following})
        ORDER BY Service, w
    """
    rows = store.rows(sql, {"bucket": bucket_s, "start": start, "end": end})
    frame = pd.DataFrame(
        [
            (s, w, int(n), int(f), q[0] / 1e6, q[1] / 1e6, int(n3), q3[-1] / 1e6)
            + tuple(x / 1e6 for x in q3[:-1])
            for s, w, n, f, q, n3, q3 in rows
        ],
        columns=[
            "service",
            "window",
            "requests",
            "failures",
            "p50_ms",
            "p99_ms",
            "requests_smooth",
            "p99_smooth_ms",
            *(f"q{round(q * 100)}_smooth_ms" for q in levels),
        ],
    )
    frame["window"] = pd.to_datetime(frame["window"], utc=True)
    return frame


def replica_latency_windows(
    store: Store, services: list[str], start: datetime, end: datetime, bucket_s: int = 10
) -> pd.DataFrame:
    """Per replica (service, host, pid) and window: requests and p99 in ms, for blast radius."""
    sql = f"""
        SELECT Service, Host, Pid, {WINDOW_SQL} AS w, sum(Requests),
               quantilesTDigestMerge(0.5, 0.99)(Latency) AS q
        FROM tailsight_latency_10s
        WHERE Service IN {{services:Array(String)}}
          AND Window >= toDateTime({{start:DateTime64(3)}}) AND Window < {{end:DateTime64(3)}}
        GROUP BY Service, Host, Pid, w
        ORDER BY Service, Host, Pid, w
    """
    rows = store.rows(sql, {"bucket": bucket_s, "start": start, "end": end, "services": services})
    frame = pd.DataFrame(
        [(s, h, p, w, int(n), q[1] / 1e6) for s, h, p, w, n, q in rows],
        columns=["service", "host", "pid", "window", "requests", "p99_ms"],
    )
    frame["window"] = pd.to_datetime(frame["window"], utc=True)
    return frame


def operation_latency_windows(
    store: Store, service: str, start: datetime, end: datetime, bucket_s: int = 10
) -> pd.DataFrame:
    """Per operation (span name) of ``service`` and window: requests and p99 in ms.

    Tells a load surge (every operation busier and slower) from a change of the request
    mix (a heavy operation more common, each operation as fast as before).
    """
    sql = f"""
        SELECT Operation, {WINDOW_SQL} AS w, sum(Requests),
               quantilesTDigestMerge(0.99)(Latency) AS q
        FROM tailsight_latency_10s
        WHERE Service = {{service:String}}
          AND Window >= toDateTime({{start:DateTime64(3)}}) AND Window < {{end:DateTime64(3)}}
        GROUP BY Operation, w
        ORDER BY Operation, w
    """
    rows = store.rows(sql, {"bucket": bucket_s, "start": start, "end": end, "service": service})
    frame = pd.DataFrame(
        [(o, w, int(n), q[0] / 1e6) for o, w, n, q in rows],
        columns=["operation", "window", "requests", "p99_ms"],
    )
    frame["window"] = pd.to_datetime(frame["window"], utc=True)
    return frame


def client_server_gaps(
    store: Store, service: str, start: datetime, split: datetime, end: datetime
) -> pd.DataFrame:
    """``service``'s CLIENT spans joined with the SERVER spans they called, before and during.

    Per callee (service, pod, replica) and phase: calls, the mean time on the wire (CLIENT
    duration minus the callee's SERVER duration) and the mean time in the callee, in ms.
    Empty where the service's traces carry no CLIENT spans (SERVER-only instrumentation).
    """
    sql = """
        SELECT s.ServiceName AS callee,
               concat(s.ResourceAttributes['k8s.namespace.name'], '/',
                      s.ResourceAttributes['k8s.pod.name']) AS pod,
               concat(s.ResourceAttributes['host.name'], '/',
                      s.ResourceAttributes['process.pid']) AS replica,
               if(c.Timestamp < {split:DateTime64(9)}, 'before', 'during') AS phase,
               count() AS calls,
               avg(greatest(toInt64(c.Duration) - toInt64(s.Duration), 0)) / 1e6 AS wire_ms,
               avg(s.Duration) / 1e6 AS server_ms
        FROM otel_traces AS s
        INNER JOIN (
            SELECT TraceId, SpanId, Duration, Timestamp FROM otel_traces
            WHERE ServiceName = {service:String} AND SpanKind = 'Client'
              AND Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
        ) AS c
        ON s.TraceId = c.TraceId AND s.ParentSpanId = c.SpanId
        WHERE s.SpanKind = 'Server' AND s.ServiceName != {service:String}
          AND s.Timestamp >= {start:DateTime64(9)} AND s.Timestamp < {end:DateTime64(9)}
        GROUP BY callee, pod, replica, phase
        ORDER BY callee, pod, replica, phase
    """
    params = {"service": service, "start": start, "split": split, "end": end}
    result = store.query(sql, params)
    return pd.DataFrame(
        result.result_rows,
        columns=["callee", "pod", "replica", "phase", "calls", "wire_ms", "server_ms"],
    )


def downstream_latency(
    store: Store, service: str, start: datetime, split: datetime, end: datetime
) -> pd.DataFrame:
    """Server time in each service called by ``service``'s spans, before and during ``split``.

    A downstream span is a span of another service whose parent span belongs to
    ``service`` (a client span calling out, or the server span itself). Per downstream
    service and phase (``before`` = ``[start, split)``, ``during`` = ``[split, end)``):
    calls, and the p50/p99 of their duration in ms.
    """
    sql = """
        SELECT child.ServiceName AS downstream,
               if(child.Timestamp < {split:DateTime64(9)}, 'before', 'during') AS phase,
               count() AS calls,
               quantileTDigest(0.5)(child.Duration) / 1e6 AS p50_ms,
               quantileTDigest(0.99)(child.Duration) / 1e6 AS p99_ms
        FROM otel_traces AS child
        INNER JOIN (
            SELECT TraceId, SpanId FROM otel_traces
            WHERE ServiceName = {service:String}
              AND Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
        ) AS parent
        ON child.TraceId = parent.TraceId AND child.ParentSpanId = parent.SpanId
        WHERE child.ServiceName != {service:String}
          AND child.Timestamp >= {start:DateTime64(9)} AND child.Timestamp < {end:DateTime64(9)}
        GROUP BY downstream, phase
        ORDER BY downstream, phase
    """
    params = {"service": service, "start": start, "split": split, "end": end}
    result = store.query(sql, params)
    return pd.DataFrame(
        result.result_rows, columns=["downstream", "phase", "calls", "p50_ms", "p99_ms"]
    )


def replica_pods(store: Store, service: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The pod of each replica (host, pid) of ``service``, from its spans' resources."""
    sql = """
        SELECT ResourceAttributes['host.name'] AS host,
               ResourceAttributes['process.pid'] AS pid,
               any(ResourceAttributes['k8s.pod.name']) AS pod
        FROM otel_traces
        WHERE ServiceName = {service:String} AND SpanKind = 'Server'
          AND Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)}
          AND ResourceAttributes['k8s.pod.name'] != ''
        GROUP BY host, pid
        ORDER BY host, pid
    """
    rows = store.rows(sql, {"service": service, "start": start, "end": end})
    return pd.DataFrame([tuple(r) for r in rows], columns=["host", "pid", "pod"])
