"""Rollups for analysis: per-10 s latency quantile states per replica, and per-10 s metric series.

Analysis reads these instead of raw rows, so an hour of a large fleet is a few hundred
thousand rollup rows rather than tens of millions of spans and points. Materialized
views fill them on insert, so they hold what was ingested after this migration.

``tailsight_latency_10s`` keeps one t-digest state per (service, operation, replica,
window); merging the states over replicas gives the service's quantiles, and over
operations the service's. ``tailsight_metrics_10s`` keeps, per series and window, the
first and last value with their times (counters: rates with resets handled in
``analysis.series``), the sum of values (delta sums, gauge means), the point count and
the peak.
"""

from __future__ import annotations

from tailsight.storage.ddl import MaterializedView, SchemaObject, Table

LATENCY_10S = Table(
    name="tailsight_latency_10s",
    body="""
Service LowCardinality(String),
Operation LowCardinality(String),
Host LowCardinality(String),
Pid String,
Window DateTime('UTC'),
Requests SimpleAggregateFunction(sum, UInt64),
Failures SimpleAggregateFunction(sum, UInt64),
Latency AggregateFunction(quantilesTDigest(0.5, 0.99), UInt64)
""",
    engine="AggregatingMergeTree()",
    partition_by="toDate(Window)",
    order_by="(Service, Window, Operation, Host, Pid)",
    ttl="Window",
    shard_key="cityHash64(Service)",
)

LATENCY_10S_MV = MaterializedView(
    name="tailsight_latency_10s_mv",
    source="otel_traces",
    target="tailsight_latency_10s",
    select="""
SELECT
    ServiceName AS Service,
    SpanName AS Operation,
    ResourceAttributes['host.name'] AS Host,
    ResourceAttributes['process.pid'] AS Pid,
    toStartOfInterval(Timestamp, toIntervalSecond(10), 'UTC') AS Window,
    toUInt64(count()) AS Requests,
    toUInt64(countIf(StatusCode = 'Error'
        OR toUInt16OrZero(SpanAttributes['http.response.status_code']) >= 500)) AS Failures,
    quantilesTDigestState(0.5, 0.99)(Duration) AS Latency
FROM {source}
WHERE SpanKind = 'Server'
GROUP BY Service, Operation, Host, Pid, Window
""",
)

_SERIES_BODY = """
MetricName LowCardinality(String),
Kind LowCardinality(String),
Unit LowCardinality(String),
Host LowCardinality(String),
Switch LowCardinality(String),
Attributes Map(LowCardinality(String), String),
Temporality Int32,
Window DateTime('UTC'),
First AggregateFunction(argMin, Float64, DateTime64(9)),
Last AggregateFunction(argMax, Float64, DateTime64(9)),
FirstTime SimpleAggregateFunction(min, DateTime64(9)),
LastTime SimpleAggregateFunction(max, DateTime64(9)),
Total SimpleAggregateFunction(sum, Float64),
Points SimpleAggregateFunction(sum, UInt64),
Peak SimpleAggregateFunction(max, Float64)
"""

METRICS_10S = Table(
    name="tailsight_metrics_10s",
    body=_SERIES_BODY,
    engine="AggregatingMergeTree()",
    partition_by="toDate(Window)",
    order_by="(MetricName, Window, Host, Switch, Attributes, Temporality, Kind, Unit)",
    ttl="Window",
    shard_key="cityHash64(MetricName, Host, Switch)",
)


def _series_view(name: str, source: str, kind: str, temporality: str) -> MaterializedView:
    return MaterializedView(
        name=name,
        source=source,
        target="tailsight_metrics_10s",
        select=f"""
SELECT
    MetricName,
    '{kind}' AS Kind,
    MetricUnit AS Unit,
    ResourceAttributes['host.name'] AS Host,
    ResourceAttributes['tailsight.switch.name'] AS Switch,
    Attributes,
    {temporality} AS Temporality,
    toStartOfInterval(TimeUnix, toIntervalSecond(10), 'UTC') AS Window,
    argMinState(Value, TimeUnix) AS First,
    argMaxState(Value, TimeUnix) AS Last,
    min(TimeUnix) AS FirstTime,
    max(TimeUnix) AS LastTime,
    sum(Value) AS Total,
    toUInt64(count()) AS Points,
    max(Value) AS Peak
FROM {{source}}
GROUP BY MetricName, Unit, Host, Switch, Attributes, Temporality, Window
""",
    )


GAUGE_10S_MV = _series_view(
    "tailsight_metrics_10s_gauge_mv", "otel_metrics_gauge", "gauge", "toInt32(0)"
)
SUM_10S_MV = _series_view(
    "tailsight_metrics_10s_sum_mv", "otel_metrics_sum", "sum", "AggregationTemporality"
)

OBJECTS: list[SchemaObject] = [LATENCY_10S, LATENCY_10S_MV, METRICS_10S, GAUGE_10S_MV, SUM_10S_MV]
