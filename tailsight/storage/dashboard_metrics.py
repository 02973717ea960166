"""What the dashboards read about GPUs, NICs and switch ports, from the metric rollup.

Series are read from the coarsest metric rollup tier that serves the step a page draws
at (``storage.rollup_tiers``: 5 min for a day, 10 s for minutes; a whole-range summary
reads whole hours from the hourly tier), merged to that step:
per series and bucket the raw aggregates (first/last value and time, sum, count, peak);
``analysis.series.bucket_values`` turns them into rates and means, so the arithmetic is
pure and tested without a store. Topology comes from ``tailsight.nic.link``
(NIC side) and ``tailsight.switch.lldp.neighbor`` (switch side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

from tailsight.storage.rollup_tiers import SummarySource, Tier, summary_source, tier_for
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
    sql, params = bucket_query(
        metrics, start, end, step_s, switches_only=switches_only, hosts=hosts, switches=switches
    )
    frame = store.frame(f"{sql} ORDER BY metric, host, switch, {', '.join(ATTRIBUTES)}, t", params)
    if frame.empty:
        return pd.DataFrame({c: [] for c in BUCKET_COLUMNS})
    frame = frame[BUCKET_COLUMNS]
    for column in ("t", "first_time", "last_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def bucket_query(
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    step_s: int | None,
    *,
    switches_only: bool = False,
    no_switch: bool = False,
    hosts: Sequence[str] = (),
    switches: Sequence[str] = (),
) -> tuple[str, dict[str, object]]:
    """The SQL of :func:`metric_buckets` (``BUCKET_COLUMNS``, unordered) and its parameters.

    ``no_switch`` keeps the series a host reported. Other queries read it as a subquery.
    """
    bucket = (
        "toDateTime({start:DateTime64(3)}, 'UTC')"
        if step_s is None
        else "toStartOfInterval(Window, toIntervalSecond({step:UInt32}), 'UTC')"
    )
    tier = tier_for(step_s, (end - start).total_seconds())
    source = summary_source(start, end) if step_s is None else SummarySource(tier)
    attrs = ", ".join(f"{tier.attribute(a, f'a_{k}')} AS {k}" for k, a in ATTRIBUTES.items())
    where = ["MetricName IN {metrics:Array(String)}", _RANGE]
    if switches_only:
        where.append("Switch != ''")
    if no_switch:
        where.append("Switch = ''")
    if hosts or switches:
        where.append(
            "(Host IN {hosts:Array(String)} OR (Switch != '' AND Switch IN {switches:Array(String)}))"
        )
    sql = f"""
        SELECT MetricName AS metric, any(Kind) AS kind, Temporality AS temporality,
               any(Unit) AS unit, Host AS host, Switch AS switch, {attrs}, {bucket} AS t,
               {_first_last(tier)},
               sum(Total) AS total, sum(Points) AS points, max(Peak) AS peak
        FROM {source.metrics(" AND ".join(where))}
        GROUP BY metric, temporality, host, switch, {", ".join(ATTRIBUTES)}, t
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
    params.update(source.params)
    return sql, params


def _first_last(tier: Tier) -> str:
    """The bucket's first and last value and their times: tuples in coarse tiers, states in 10 s."""
    if tier.coarse:
        return (
            "tupleElement(min(First), 2) AS first, tupleElement(max(Last), 2) AS last, "
            "tupleElement(min(First), 1) AS first_time, tupleElement(max(Last), 1) AS last_time"
        )
    return (
        "argMinMerge(First) AS first, argMaxMerge(Last) AS last, "
        "min(FirstTime) AS first_time, max(LastTime) AS last_time"
    )


def gpu_process_shares(store: Store, start: datetime, end: datetime) -> pd.DataFrame:
    """Per process on a GPU over the range: its mean and peak SM share, executable and pod."""
    tier = summary_source(start, end)
    where = f"MetricName = 'tailsight.gpu.process.utilization' AND {_RANGE}"
    sql = f"""
        SELECT Host AS host, {tier.attribute("hw.id", "a_gpu")} AS hw_id,
               {tier.attribute("process.pid", "a_pid")} AS pid,
               any(Attributes)[{{a_exe:String}}] AS executable,
               any(Attributes)[{{a_pod:String}}] AS pod,
               sum(Total) / greatest(sum(Points), 1) AS mean_share, max(Peak) AS peak_share
        FROM {tier.metrics(where)}
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
            **tier.params,
        },
    )
    columns = ["host", "hw_id", "pid", "executable", "pod", "mean_share", "peak_share"]
    return frame[columns] if not frame.empty else pd.DataFrame({c: [] for c in columns})


def fabric_links(store: Store, start: datetime, end: datetime) -> pd.DataFrame:
    """Every NIC → switch port link reported in the range (``tailsight.nic.link``), newest wins."""
    tier = summary_source(start, end)
    sql = f"""
        SELECT Host AS host, {tier.attribute("network.interface.name", "a_iface")} AS interface,
               argMax(Attributes[{{a_switch:String}}], Window) AS switch,
               argMax(Attributes[{{a_port:String}}], Window) AS port
        FROM {tier.metrics(f"MetricName = 'tailsight.nic.link' AND {_RANGE}")}
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
            **tier.params,
        },
    )
    return pd.DataFrame(rows, columns=["host", "interface", "switch", "port"])


def lldp_neighbors(store: Store, start: datetime, end: datetime) -> pd.DataFrame:
    """What each switch port sees at its other end (``tailsight.switch.lldp.neighbor``)."""
    tier = summary_source(start, end)
    sql = f"""
        SELECT Switch AS switch, {tier.attribute("network.interface.name", "a_iface")} AS port,
               argMax(Attributes[{{a_name:String}}], Window) AS neighbor,
               argMax(Attributes[{{a_port:String}}], Window) AS neighbor_port
        FROM {tier.metrics(f"MetricName = 'tailsight.switch.lldp.neighbor' AND {_RANGE}")}
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
            **tier.params,
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
    tier = tier_for(step_s, (end - start).total_seconds())
    sql = f"""
        SELECT countIf(u >= {{busy:Float64}}), countIf(u < {{idle:Float64}}), count()
        FROM (
            SELECT Host, {tier.attribute("hw.id", "a_gpu")} AS gpu,
                   toStartOfInterval(Window, toIntervalSecond({{step:UInt32}}), 'UTC') AS t,
                   sum(Total) / greatest(sum(Points), 1) AS u
            FROM {tier.metrics}
            WHERE MetricName = 'hw.gpu.utilization' AND {_RANGE}
            GROUP BY Host, gpu, t
        )
    """
    params = {"start": start, "end": end, "step": step_s, "busy": busy, "idle": idle}
    row = store.rows(sql, {**params, "a_gpu": "hw.id"})[0]
    return int(row[0]), int(row[1]), int(row[2])


def gpu_util_grid(
    store: Store, start: datetime, end: datetime, step_s: int, max_rows: int
) -> pd.DataFrame:
    """Mean GPU utilization per heat-map row and ``step_s`` bucket: ``row``, ``t``, ``value``.

    A row is a GPU (``host`` and its ``hw.name``, else ``hw.id``) or, past ``max_rows``
    GPUs, a node (the mean of its GPUs' bucket means): a day of a thousand GPUs is then a
    few thousand cells rather than a grid no screen shows, and is averaged in the store.
    """
    tier = tier_for(step_s, (end - start).total_seconds())
    name = tier.attribute("hw.name", "a_name")
    gpu = f"if({name} != '', {name}, {tier.attribute('hw.id', 'a_gpu')})"
    sql = f"""
        WITH per_gpu AS (
            SELECT Host AS host, {gpu} AS gpu,
                   toStartOfInterval(Window, toIntervalSecond({{step:UInt32}}), 'UTC') AS t,
                   sum(Total) / greatest(sum(Points), 1) AS u
            FROM {tier.metrics}
            WHERE MetricName = 'hw.gpu.utilization' AND {_RANGE}
            GROUP BY host, gpu, t
        )
        SELECT if((SELECT uniqExact(host, gpu) FROM per_gpu) > {{max_rows:UInt32}},
                  host, concat(host, ' ', gpu)) AS row, t, avg(u) AS value
        FROM per_gpu
        GROUP BY row, t
        ORDER BY row, t
    """
    params = {"start": start, "end": end, "step": step_s, "max_rows": max_rows}
    rows = store.rows(sql, {**params, "a_name": "hw.name", "a_gpu": "hw.id"})
    frame = pd.DataFrame(rows, columns=["row", "t", "value"])
    frame["t"] = pd.to_datetime(frame["t"], utc=True)
    return frame
