"""Hourly GPU utilization per GPU for the weekly report: 168 rows a GPU a week, not 60,480.

The report's fleet section classifies every 10 s window of every GPU as busy,
underutilized or idle. Read from ``tailsight_metrics_10s`` that is 60 M rows a week on a
1,000-GPU fleet, each with its attribute map to decode for ``hw.id``: ~8 s of CPU, the
report's slowest query (bench/report.py). ``tailsight_report_gpu_1h`` keeps, per GPU
(host, ``hw.id``) and hour, the hour's windows as three parallel arrays (window offset
in the hour in 10 s steps, sum of values, point count), filled on insert by a view on
the rollup.

Why windows and not seconds already classified: the agent exports every second, so a
10 s window reaches the rollup in several inserts; classifying each insert's part of a
window would count the window several times. The arrays are concatenated on merge
(``groupArrayArray``), and the report's query sums a window's parts before classifying
it (``storage.report_queries``), so every window counts once, merged or not.

The view fills on insert: rows already in the rollup are not copied (an ``INSERT`` cannot
run on every node of a cluster as the schema statements do); the report reads a week
that began before the table's first hour from the rollup, as before.
"""

from __future__ import annotations

from tailsight.storage.ddl import MaterializedView, SchemaObject, Table

GPU_1H = Table(
    name="tailsight_report_gpu_1h",
    body="""
Host LowCardinality(String),
Gpu String,
Hour DateTime('UTC'),
Offsets SimpleAggregateFunction(groupArrayArray, Array(UInt16)),
Totals SimpleAggregateFunction(groupArrayArray, Array(Float64)),
Points SimpleAggregateFunction(groupArrayArray, Array(UInt64))
""",
    engine="AggregatingMergeTree()",
    partition_by="toDate(Hour)",
    order_by="(Hour, Host, Gpu)",
    ttl="Hour",
    # As the rollup rows of GPU utilization are sharded: a GPU's windows meet on one shard.
    shard_key="cityHash64('hw.gpu.utilization', Host, '')",
)

_SELECT = """
SELECT Host, Gpu, toStartOfHour(Window) AS Hour,
    groupArray(toUInt16(intDiv(toUInt32(Window) - toUInt32(Hour), 10))) AS Offsets,
    groupArray(t) AS Totals,
    groupArray(n) AS Points
FROM (
    SELECT Host, Attributes['hw.id'] AS Gpu, Window, toFloat64(Total) AS t, toUInt64(Points) AS n
    FROM {source}
    WHERE MetricName = 'hw.gpu.utilization' AND Points > 0
)
"""

GPU_1H_MV = MaterializedView(
    name="tailsight_report_gpu_1h_mv",
    source="tailsight_metrics_10s",
    target="tailsight_report_gpu_1h",
    select=_SELECT + "GROUP BY Host, Gpu, Hour",
)

OBJECTS: list[SchemaObject] = [GPU_1H, GPU_1H_MV]
