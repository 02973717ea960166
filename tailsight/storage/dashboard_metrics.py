"""What the dashboards read about GPUs, NICs and switch ports, from the metric rollup.

Series are read from ``tailsight_metrics_10s`` (migration 4) merged to the step a page
draws at: per series and bucket the raw aggregates (first/last value and time, sum,
count, peak); ``analysis.series.bucket_values`` turns them into rates and means, so the
arithmetic is pure and tested without a store. Topology comes from ``tailsight.nic.link``
(NIC side) and ``tailsight.switch.lldp.neighbor`` (switch side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

from tailsight.storage.store import Store

_RANGE = "Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}"

# Frame column -> the attribute holding it, for the series the pages split by.
ATTRIBUTES: Mapping[str, str] = {
    "interface": "network.interface.name",
    "direction": "network.io.direction",
    "hw_id": "hw.id",
    "gpu": "hw.name",
    "pid": "process.pid",
}

BUCKET_COLUMNS = [
    "metric",
    "kind",
    "temporality",
    "unit",
    "host",
    "switch",
    *ATTRIBUTES,
    "t",
    "first",
    "last",
    "first_time",
    "last_time",
    "total",
    "points",
    "peak",
]


def metric_buckets(
    store: Store,
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    step_s: int | None,
    *,
    switches_only: bool = False,
    hosts: Sequence[str] = (),
    switches: Sequence[str] = (),
) -> pd.DataFrame:
    """Per series of ``metrics`` and ``step_s`` bucket (the whole range when ``None``): aggregates.

    ``switches_only`` keeps the series a switch reported; ``hosts``/``switches``, when
    given, keep only the series of those hosts or switches.
    """
    bucket = (
        "toDateTime({start:DateTime64(3)}, 'UTC')"
        if step_s is None
        else "toStartOfInterval(Window, toIntervalSecond({step:UInt32}), 'UTC')"
    )
    attrs = ", ".join(f"Attributes[{{a_{k}:String}}] AS {k}" for k in ATTRIBUTES)
    where = ["MetricName IN {metrics:Array(String)}", _RANGE]
    if switches_only:
        where.append("Switch != ''")
    if hosts or switches:
        where.append(
            "(Host IN {hosts:Array(String)} OR (Switch != '' AND Switch IN {switches:Array(String)}))"
        )
    sql = f"""
        SELECT MetricName AS metric, any(Kind) AS kind, Temporality AS temporality,
               any(Unit) AS unit, Host AS host, Switch AS switch, {attrs}, {bucket} AS t,
               argMinMerge(First) AS first, argMaxMerge(Last) AS last,
               min(FirstTime) AS first_time, max(LastTime) AS last_time,
               sum(Total) AS total, sum(Points) AS points, max(Peak) AS peak
        FROM tailsight_metrics_10s
        WHERE {" AND ".join(where)}
        GROUP BY metric, temporality, host, switch, {", ".join(ATTRIBUTES)}, t
        ORDER BY metric, host, switch, {", ".join(ATTRIBUTES)}, t
    """
    params: dict[str, object] = {
        "metrics": list(metrics),
        "start": start,
        "end": end,
        "step": step_s or 0,
        "hosts": list(hosts),
        "switches": list(switches),
    }
    params.update({f"a_{k}": v for k, v in ATTRIBUTES.items()})
    frame = store.frame(sql, params)
    if frame.empty:
        return pd.DataFrame({c: [] for c in BUCKET_COLUMNS})
    frame = frame[BUCKET_COLUMNS]
    for column in ("t", "first_time", "last_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def gpu_process_shares(store: Store, start: datetime, end: datetime) -> pd.DataFrame:
    """Per process on a GPU over the range: its mean and peak SM share, executable and pod."""
    sql = f"""
        SELECT Host AS host, Attributes[{{a_gpu:String}}] AS hw_id,
               Attributes[{{a_pid:String}}] AS pid,
               any(Attributes[{{a_exe:String}}]) AS executable,
               any(Attributes[{{a_pod:String}}]) AS pod,
               sum(Total) / greatest(sum(Points), 1) AS mean_share, max(Peak) AS peak_share,
               max(LastTime) AS last_seen
        FROM tailsight_metrics_10s
        WHERE MetricName = 'tailsight.gpu.process.utilization' AND {_RANGE}
        GROUP BY host, hw_id, pid
        ORDER BY host, hw_id, pid
    """
    frame = store.frame(
        sql,
        {
            "start": start,
            "end": end,
            "a_gpu": "hw.id",
            "a_pid": "process.pid",
            "a_exe": "process.executable.name",
            "a_pod": "k8s.pod.name",
        },
    )
    columns = ["host", "hw_id", "pid", "executable", "pod", "mean_share", "peak_share"]
    return frame[columns] if not frame.empty else pd.DataFrame({c: [] for c in columns})


def fabric_links(store: Store, start: datetime, end: datetime) -> pd.DataFrame:
    """Every NIC → switch port link reported in the range (``tailsight.nic.link``), newest wins."""
    sql = f"""
        SELECT Host AS host, Attributes[{{a_iface:String}}] AS interface,
               argMax(Attributes[{{a_switch:String}}], Window) AS switch,
               argMax(Attributes[{{a_port:String}}], Window) AS port
        FROM tailsight_metrics_10s
        WHERE MetricName = 'tailsight.nic.link' AND {_RANGE}
        GROUP BY host, interface
        ORDER BY host, interface
    """
    rows = store.rows(
        sql,
        {
            "start": start,
            "end": end,
            "a_iface": "network.interface.name",
            "a_switch": "tailsight.switch.name",
            "a_port": "tailsight.switch.port",
        },
    )
    return pd.DataFrame(rows, columns=["host", "interface", "switch", "port"])


def lldp_neighbors(store: Store, start: datetime, end: datetime) -> pd.DataFrame:
    """What each switch port sees at its other end (``tailsight.switch.lldp.neighbor``)."""
    sql = f"""
        SELECT Switch AS switch, Attributes[{{a_iface:String}}] AS port,
               argMax(Attributes[{{a_name:String}}], Window) AS neighbor,
               argMax(Attributes[{{a_port:String}}], Window) AS neighbor_port
        FROM tailsight_metrics_10s
        WHERE MetricName = 'tailsight.switch.lldp.neighbor' AND {_RANGE}
        GROUP BY switch, port
        ORDER BY switch, port
    """
    rows = store.rows(
        sql,
        {
            "start": start,
            "end": end,
            "a_iface": "network.interface.name",
            "a_name": "tailsight.neighbor.name",
            "a_port": "tailsight.neighbor.port",
        },
    )
    return pd.DataFrame(rows, columns=["switch", "port", "neighbor", "neighbor_port"])


def gpu_state_buckets(
    store: Store, start: datetime, end: datetime, step_s: int, busy: float, idle: float
) -> tuple[int, int, int]:
    """GPU-buckets (one GPU over one ``step_s`` bucket) in the range: busy, idle and all.

    Counted in the store: a day of a thousand GPUs is a hundred thousand buckets, which
    the fleet page only needs as three numbers.
    """
    sql = f"""
        SELECT countIf(u >= {{busy:Float64}}), countIf(u < {{idle:Float64}}), count()
        FROM (
            SELECT Host, Attributes[{{a_gpu:String}}] AS gpu,
                   toStartOfInterval(Window, toIntervalSecond({{step:UInt32}}), 'UTC') AS t,
                   sum(Total) / greatest(sum(Points), 1) AS u
            FROM tailsight_metrics_10s
            WHERE MetricName = 'hw.gpu.utilization' AND {_RANGE}
            GROUP BY Host, gpu, t
        )
    """
    params = {"start": start, "end": end, "step": step_s, "busy": busy, "idle": idle}
    row = store.rows(sql, {**params, "a_gpu": "hw.id"})[0]
    return int(row[0]), int(row[1]), int(row[2])
