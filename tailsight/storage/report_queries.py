"""Queries behind the weekly report's fleet section: GPU time by utilization, workloads, host load.

They read the ``tailsight_metrics_10s`` rollup (one row per series and 10 s window), so a
week of a 1,000-GPU fleet is ~60 M rollup rows aggregated in the engine, never raw
points in Python. (SLI counts come from the SLO rollup through
``tailsight.alerts.evaluate.sli_series``.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tailsight.storage.store import Store

# A 10 s window of a GPU is busy at or above this utilization, idle below IDLE_BELOW,
# and underutilized in between (held by a workload that leaves it mostly waiting).
BUSY_AT = 0.5
IDLE_BELOW = 0.05


# Whole hours are classified as stored; the range's first and last hours may be partial
# (a time zone on the half hour) and keep only their windows inside it.
_MERGED = """
    if(length(arrayDistinct(Offsets)) = length(Offsets), (Offsets, Totals, Points),
       arrayReduce('sumMap', [Offsets], [Totals], [Points]))"""
_STATE = """
    SELECT Host, Gpu,
           arrayCount((t, p) -> t >= {busy:Float64} * p, ts, ps) AS busy,
           arrayCount((t, p) -> t >= {idle:Float64} * p AND t < {busy:Float64} * p, ts, ps)
               AS under,
           arrayCount((t, p) -> t < {idle:Float64} * p, ts, ps) AS idle,
           arraySum(ts) AS total, arraySum(ps) AS points"""
_HOURS_SQL = f"""
    SELECT Host, Gpu, 10 * sum(busy), 10 * sum(under), 10 * sum(idle), sum(total) / sum(points)
    FROM (
        {_STATE}
        FROM (SELECT Host, Gpu, w.2 AS ts, w.3 AS ps FROM (
            SELECT Host, Gpu, {_MERGED} AS w
            FROM tailsight_report_gpu_1h FINAL
            WHERE Hour >= toDateTime({{start:DateTime64(3)}})
              AND Hour + 3600 <= toDateTime({{end:DateTime64(3)}})))
        UNION ALL
        {_STATE}
        FROM (SELECT Host, Gpu, arrayMap(x -> x.2, kept) AS ts, arrayMap(x -> x.3, kept) AS ps
              FROM (SELECT Host, Gpu,
                           arrayFilter(x -> toUInt32(Hour) + 10 * x.1
                                                >= toUInt32(toDateTime({{start:DateTime64(3)}}))
                                            AND toUInt32(Hour) + 10 * x.1
                                                < toUInt32(toDateTime({{end:DateTime64(3)}})),
                                       arrayZip(w.1, w.2, w.3)) AS kept
                    FROM (SELECT Host, Gpu, Hour, {_MERGED} AS w
                          FROM tailsight_report_gpu_1h FINAL
                          WHERE Hour > toStartOfHour(toDateTime({{start:DateTime64(3)}})) - 3600
                            AND Hour < toDateTime({{end:DateTime64(3)}})
                            AND (Hour < toDateTime({{start:DateTime64(3)}})
                                 OR Hour + 3600 > toDateTime({{end:DateTime64(3)}})))))
    )
    GROUP BY Host, Gpu ORDER BY Host, Gpu
"""

# Weeks from before migration 12, from the rollup: each row (a window or a part of one) alone.
_ROLLUP_SQL = """
        SELECT Host, Attributes['hw.id'] AS hw,
               10 * countIf(Total >= {busy:Float64} * Points) AS busy_s,
               10 * countIf(Total >= {idle:Float64} * Points AND Total < {busy:Float64} * Points)
                   AS under_s,
               10 * countIf(Total < {idle:Float64} * Points) AS idle_s,
               sum(Total) / sum(Points) AS mean_u
        FROM tailsight_metrics_10s
        WHERE MetricName = 'hw.gpu.utilization' AND Points > 0
          AND Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}
        GROUP BY Host, hw ORDER BY Host, hw
"""


def gpu_time_by_state(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per GPU (host, ``hw.id``): seconds busy, underutilized and idle, and its mean utilization.

    Each 10 s window with a ``hw.gpu.utilization`` point counts 10 s in the state its mean
    utilization falls in; windows without data count nowhere. Read from the hourly table
    of migration 12 (168 rows a GPU a week, not 60,480 rollup rows with their attribute
    maps: bench/report.py). An hour's windows are three parallel arrays; a window that
    reached the store in several inserts appears several times until its parts are summed
    here (``sumMap``, only for the hours that have such a window), so it counts once.
    A range that starts or ends inside an hour counts only that hour's windows inside it.

    The table fills on insert from the migration on: a range that begins before its first
    hour (a week ingested before the upgrade) is read from the rollup, each row classified
    alone (a window still in parts counts once a part, until the engine merges them).
    """
    fresh = "count() > 0 AND min(Hour) <= toStartOfHour(toDateTime({start:DateTime64(3)}))"
    covered = store.rows(f"SELECT {fresh} FROM tailsight_report_gpu_1h", {"start": start})[0][0]
    sql = _HOURS_SQL if covered else _ROLLUP_SQL
    params = {"start": start, "end": end, "busy": BUSY_AT, "idle": IDLE_BELOW}
    return [
        {
            "host": h,
            "hw_id": hw,
            "busy_s": float(b),
            "under_s": float(u),
            "idle_s": float(i),
            "mean_util": float(m),
        }
        for h, hw, b, u, i, m in store.rows(sql, params)
    ]


def gpu_workloads(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Which service (or, failing that, which executable) used each GPU over the range.

    A GPU's processes come from ``tailsight.gpu.process.utilization`` (host, ``hw.id``,
    pid); a process is a service's replica when that service's server spans carry its
    ``host.name`` and ``process.pid`` (the ``tailsight_latency_10s`` rollup). Per GPU a
    service wins over other processes (a batch job sharing a serving GPU), then the
    workload with the most process windows.
    """
    sql = """
        SELECT p.Host, p.hw,
               argMax(if(r.Service != '', r.Service, p.exe), (r.Service != '', p.n)) AS workload,
               max(r.Service != '') AS serving
        FROM (
            SELECT Host, Attributes['hw.id'] AS hw, Attributes['process.pid'] AS pid,
                   any(Attributes['process.executable.name']) AS exe, count() AS n
            FROM tailsight_metrics_10s
            WHERE MetricName = 'tailsight.gpu.process.utilization'
              AND Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}
            GROUP BY Host, hw, pid
        ) AS p
        LEFT JOIN (
            SELECT DISTINCT Host, Pid, Service FROM tailsight_latency_10s
            WHERE Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}
        ) AS r ON r.Host = p.Host AND r.Pid = p.pid
        GROUP BY p.Host, p.hw
    """
    rows = store.rows(sql, {"start": start, "end": end})
    return [{"host": h, "hw_id": hw, "workload": w, "serving": bool(s)} for h, hw, w, s in rows]


def host_pressure(
    store: Store, start: datetime, end: datetime, hosts: list[str]
) -> dict[str, dict[str, float]]:
    """Per host: mean CPU utilization and mean CPU/memory/io pressure (PSI) over the range."""
    sql = """
        SELECT Host,
               if(MetricName = 'system.cpu.utilization', 'cpu_util',
                  concat('psi_', Attributes['tailsight.pressure.resource'])) AS what,
               sum(Total) / sum(Points) AS mean
        FROM tailsight_metrics_10s
        WHERE MetricName IN ('system.cpu.utilization', 'tailsight.host.pressure')
          AND Host IN {hosts:Array(String)}
          AND Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}
        GROUP BY Host, what
    """
    out: dict[str, dict[str, float]] = {}
    for host, what, mean in store.rows(sql, {"start": start, "end": end, "hosts": hosts}):
        out.setdefault(host, {})[what] = float(mean)
    return out
