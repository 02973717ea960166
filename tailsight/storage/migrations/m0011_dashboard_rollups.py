"""Coarse rollups for the dashboards: 1-minute and 5-minute tiers of metrics and latency.

A dashboard over a day draws ~300 buckets; reading the 10 s rollup for it means reading
every 10 s row of every series and merging ``argMin``/``argMax`` states and map look-ups
per row (issue 15: 4.7 s for the fabric page's ports alone). These tiers are filled at
insert by materialized views that cascade from the 10 s tables (10 s → 1 min → 5 min),
so late data and data written straight into the 10 s rollup land in them too.

``tailsight_metrics_1m`` / ``_5m`` keep per series and window the first and last point
as ``(time, value)`` tuples under plain ``min``/``max`` (no state to deserialize at read
time: the earliest tuple is the first point, the latest the last), the sum, the count
and the peak, and the attributes the pages split by as their own columns, so a read
needs no map look-up. ``Attributes`` stays in the key: series never merge.

``tailsight_latency_1m`` / ``_5m`` keep the 10 s table's columns (t-digest states per
replica) over wider windows: quantiles still merge states, over 6 or 30 times fewer rows.
``storage.rollup_tiers`` chooses the tier a query reads.

Rows already in the 10 s rollups when the migration runs are copied into the 1-minute
tiers (and through their views into the 5-minute ones) for the minutes before the first
the views wrote, so a store that upgrades keeps its history on long ranges; a re-run
copies nothing more.
"""

from __future__ import annotations

from dataclasses import replace

from tailsight.storage.ddl import MaterializedView, SchemaObject, Statement, Table
from tailsight.storage.migrations.m0004_rollups import LATENCY_10S

# Column -> the attribute it holds (the ones ``storage.dashboard_metrics`` splits by).
SPLIT_ATTRIBUTES: dict[str, str] = {
    "Interface": "network.interface.name",
    "Direction": "network.io.direction",
    "HwId": "hw.id",
    "HwName": "hw.name",
    "Pid": "process.pid",
}

_METRICS_BODY = (
    """
MetricName LowCardinality(String),
Kind LowCardinality(String),
Unit LowCardinality(String),
Host LowCardinality(String),
Switch LowCardinality(String),
Attributes Map(LowCardinality(String), String),
"""
    + "".join(f"{column} LowCardinality(String),\n" for column in SPLIT_ATTRIBUTES)
    + """Temporality Int32,
Window DateTime('UTC'),
First SimpleAggregateFunction(min, Tuple(DateTime64(9), Float64)),
Last SimpleAggregateFunction(max, Tuple(DateTime64(9), Float64)),
Total SimpleAggregateFunction(sum, Float64),
Points SimpleAggregateFunction(sum, UInt64),
Peak SimpleAggregateFunction(max, Float64)
"""
)


def _metrics_table(name: str) -> Table:
    return Table(
        name=name,
        body=_METRICS_BODY,
        engine="AggregatingMergeTree()",
        partition_by="toDate(Window)",
        # The attribute columns are functions of Attributes: in the key, they split nothing.
        order_by="(MetricName, Window, Host, Switch, Attributes, Temporality, Kind, Unit, "
        + ", ".join(SPLIT_ATTRIBUTES)
        + ")",
        ttl="Window",
        shard_key="cityHash64(MetricName, Host, Switch)",
    )


def _latency_table(name: str) -> Table:
    return replace(LATENCY_10S, name=name)  # the 10 s table's columns, key and engine


def _metrics_view(seconds: int, name: str, source: str, first: str, last: str) -> MaterializedView:
    split = "".join(f"    Attributes['{a}'] AS {c},\n" for c, a in SPLIT_ATTRIBUTES.items())
    return MaterializedView(
        name=f"{name}_mv",
        source=source,
        target=name,
        select=f"""
SELECT MetricName, Kind, Unit, Host, Switch, Attributes,
{split}    Temporality,
    toStartOfInterval(Window, toIntervalSecond({seconds}), 'UTC') AS Window,
    min({first}) AS First,
    max({last}) AS Last,
    sum(Total) AS Total,
    sum(Points) AS Points,
    max(Peak) AS Peak
FROM {{source}}
GROUP BY MetricName, Kind, Unit, Host, Switch, Attributes, Temporality, Window
""",
    )


def _latency_view(seconds: int, name: str, source: str) -> MaterializedView:
    return MaterializedView(
        name=f"{name}_mv",
        source=source,
        target=name,
        select=f"""
SELECT Service, Operation, Host, Pid,
    toStartOfInterval(Window, toIntervalSecond({seconds}), 'UTC') AS Window,
    sum(Requests) AS Requests,
    sum(Failures) AS Failures,
    quantilesTDigestMergeState(0.5, 0.99)(Latency) AS Latency
FROM {{source}}
GROUP BY Service, Operation, Host, Pid, Window
""",
    )


# The 10 s row's first/last point as a (time, value) tuple: its argMin/argMax value with
# the time the same rows gave FirstTime/LastTime.
_FIRST_10S = "tuple(FirstTime, finalizeAggregation(First))"
_LAST_10S = "tuple(LastTime, finalizeAggregation(Last))"


def _backfill(view: MaterializedView) -> Statement:
    """Copy what the view's source held before the view existed (its views cascade it on)."""
    cutoff = (
        "WHERE Window < (SELECT if(count() = 0, toDateTime('2106-01-01 00:00:00', 'UTC'), "
        f"min(Window)) FROM {{db}}.{view.target})\nGROUP BY"
    )
    select = view.select.replace("{source}", f"{{db}}.{view.source}").replace("GROUP BY", cutoff)
    return Statement(f"INSERT INTO {{db}}.{view.target} {select}")


METRICS_1M_MV = _metrics_view(
    60, "tailsight_metrics_1m", "tailsight_metrics_10s", _FIRST_10S, _LAST_10S
)
LATENCY_1M_MV = _latency_view(60, "tailsight_latency_1m", "tailsight_latency_10s")

OBJECTS: list[SchemaObject] = [
    _metrics_table("tailsight_metrics_1m"),
    METRICS_1M_MV,
    _metrics_table("tailsight_metrics_5m"),
    _metrics_view(300, "tailsight_metrics_5m", "tailsight_metrics_1m", "First", "Last"),
    _latency_table("tailsight_latency_1m"),
    LATENCY_1M_MV,
    _latency_table("tailsight_latency_5m"),
    _latency_view(300, "tailsight_latency_5m", "tailsight_latency_1m"),
    _backfill(METRICS_1M_MV),
    _backfill(LATENCY_1M_MV),
]
