"""Metric series per 10 s window from the ``tailsight_metrics_10s`` rollup, and the topology.

Rows come back raw per series and window (first/last value and time, sum, count,
peak); ``analysis.series`` turns counters into rates with resets handled and gauges
into means, so that logic is pure and tested on hand-built frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from tailsight.storage.store import Store

# Attributes that name the entity a series belongs to, as frame columns.
ENTITY_ATTRIBUTES = {
    "interface": "network.interface.name",
    "direction": "network.io.direction",
    "hw_id": "hw.id",
    "pid": "process.pid",
    "pod": "k8s.pod.name",
    "namespace": "k8s.namespace.name",
    "resource": "tailsight.pressure.resource",
    "link_switch": "tailsight.switch.name",
    "link_port": "tailsight.switch.port",
}

SERIES_COLUMNS = [
    "metric",
    "kind",
    "unit",
    "host",
    "switch",
    *ENTITY_ATTRIBUTES,
    "temporality",
    "window",
    "first",
    "last",
    "first_time",
    "last_time",
    "total",
    "points",
    "peak",
]


def metric_windows(
    store: Store,
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    hosts: Sequence[str] = (),
    switches: Sequence[str] = (),
) -> pd.DataFrame:
    """Per series and 10 s window in ``[start, end)``: the rollup of ``metrics``.

    Only series of ``hosts`` (resource ``host.name``) or ``switches`` (resource
    ``tailsight.switch.name``) are read; ``first_time``/``last_time`` are UTC timestamps.
    """
    attrs = ", ".join(f"Attributes[{{a_{k}:String}}] AS {k}" for k in ENTITY_ATTRIBUTES)
    sql = f"""
        SELECT MetricName AS metric, Kind AS kind, Unit AS unit, Host AS host, Switch AS switch,
               {attrs}, Temporality AS temporality, Window AS window,
               argMinMerge(First) AS first, argMaxMerge(Last) AS last,
               min(FirstTime) AS first_time, max(LastTime) AS last_time,
               sum(Total) AS total, sum(Points) AS points, max(Peak) AS peak
        FROM tailsight_metrics_10s
        WHERE MetricName IN {{metrics:Array(String)}}
          AND Window >= toDateTime({{start:DateTime64(3)}}) AND Window < {{end:DateTime64(3)}}
          AND (Host IN {{hosts:Array(String)}} OR (Switch != '' AND Switch IN {{switches:Array(String)}}))
        GROUP BY MetricName, Kind, Unit, Host, Switch, Attributes, Temporality, Window
        ORDER BY MetricName, Host, Switch, Attributes, Window
    """
    params: dict[str, object] = {
        "metrics": list(metrics),
        "start": start,
        "end": end,
        "hosts": list(hosts),
        "switches": list(switches),
    }
    params.update({f"a_{k}": v for k, v in ENTITY_ATTRIBUTES.items()})
    frame = store.frame(sql, params)
    if frame.empty:
        frame = pd.DataFrame({c: [] for c in SERIES_COLUMNS})
    frame = frame[SERIES_COLUMNS]
    for column in ("window", "first_time", "last_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def nic_links(store: Store, start: datetime, end: datetime, hosts: Sequence[str]) -> pd.DataFrame:
    """Topology from ``tailsight.nic.link``: host, interface, switch and port, newest report wins."""
    sql = """
        SELECT Host, Attributes[{a_iface:String}] AS interface,
               argMax(Attributes[{a_switch:String}], Window) AS switch,
               argMax(Attributes[{a_port:String}], Window) AS port
        FROM tailsight_metrics_10s
        WHERE MetricName = 'tailsight.nic.link' AND Host IN {hosts:Array(String)}
          AND Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}
        GROUP BY Host, interface
        ORDER BY Host, interface
    """
    result = store.query(
        sql,
        {
            "hosts": list(hosts),
            "start": start,
            "end": end,
            "a_iface": "network.interface.name",
            "a_switch": "tailsight.switch.name",
            "a_port": "tailsight.switch.port",
        },
    )
    return pd.DataFrame(result.result_rows, columns=["host", "interface", "switch", "port"])


def gpu_processes(
    store: Store, start: datetime, end: datetime, hosts: Sequence[str]
) -> pd.DataFrame:
    """Which processes ran on which GPU (``tailsight.gpu.process.utilization``), with pods."""
    sql = """
        SELECT Host, Attributes[{a_gpu:String}] AS hw_id, Attributes[{a_pid:String}] AS pid,
               any(Attributes[{a_pod:String}]) AS pod, any(Attributes[{a_ns:String}]) AS namespace,
               any(Attributes[{a_exe:String}]) AS executable
        FROM tailsight_metrics_10s
        WHERE MetricName = 'tailsight.gpu.process.utilization' AND Host IN {hosts:Array(String)}
          AND Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}
        GROUP BY Host, hw_id, pid
        ORDER BY Host, hw_id, pid
    """
    result = store.query(
        sql,
        {
            "hosts": list(hosts),
            "start": start,
            "end": end,
            "a_gpu": "hw.id",
            "a_pid": "process.pid",
            "a_pod": "k8s.pod.name",
            "a_ns": "k8s.namespace.name",
            "a_exe": "process.executable.name",
        },
    )
    return pd.DataFrame(
        result.result_rows, columns=["host", "hw_id", "pid", "pod", "namespace", "executable"]
    )


def gpu_pods(store: Store, start: datetime, end: datetime, hosts: Sequence[str]) -> pd.DataFrame:
    """Which pods held which GPU, from ``hw.gpu.utilization`` series with ``k8s.pod.name``.

    dcgm-exporter's view (via the Prometheus mapping): it knows the pods the kubelet gave a
    GPU, not their pids, and publishes the GPU's values once per pod.
    """
    sql = """
        SELECT Host, Attributes[{a_gpu:String}] AS hw_id, Attributes[{a_pod:String}] AS pod,
               any(Attributes[{a_ns:String}]) AS namespace,
               any(Attributes[{a_container:String}]) AS container
        FROM tailsight_metrics_10s
        WHERE MetricName = 'hw.gpu.utilization' AND Host IN {hosts:Array(String)}
          AND Attributes[{a_pod:String}] != ''
          AND Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}
        GROUP BY Host, hw_id, pod
        ORDER BY Host, hw_id, pod
    """
    params = {"hosts": list(hosts), "start": start, "end": end, "a_gpu": "hw.id",
              "a_pod": "k8s.pod.name", "a_ns": "k8s.namespace.name",
              "a_container": "k8s.container.name"}  # fmt: skip
    result = store.query(sql, params)
    return pd.DataFrame(
        result.result_rows, columns=["host", "hw_id", "pod", "namespace", "container"]
    )


def nic_interfaces(
    store: Store, start: datetime, end: datetime, hosts: Sequence[str]
) -> pd.DataFrame:
    """Interfaces with traffic counters per host (``system.network.io``), loopback left out.

    Where no agent reports ``tailsight.nic.link`` (no LLDP), a host's NICs are still known
    from node_exporter's counters, without the switch port at their other end.
    """
    sql = """
        SELECT DISTINCT Host, Attributes[{a_iface:String}] AS interface
        FROM tailsight_metrics_10s
        WHERE MetricName = 'system.network.io' AND Host IN {hosts:Array(String)}
          AND Attributes[{a_iface:String}] NOT IN ('', 'lo')
          AND Window >= toDateTime({start:DateTime64(3)}) AND Window < {end:DateTime64(3)}
        ORDER BY Host, interface
    """
    params = {"hosts": list(hosts), "start": start, "end": end,
              "a_iface": "network.interface.name"}  # fmt: skip
    result = store.query(sql, params)
    return pd.DataFrame(result.result_rows, columns=["host", "interface"])
