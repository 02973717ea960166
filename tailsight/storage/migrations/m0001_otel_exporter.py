"""The OpenTelemetry Collector ClickHouse exporter's tables, with its column names and types.

A real OTel Collector configured with the ClickHouse exporter writes the same tables, so
its data and ours are one. Timestamps are ``DateTime64(9)`` throughout.
"""

from __future__ import annotations

from tailsight.storage.ddl import MaterializedView, SchemaObject, Table

_MAP = "Map(LowCardinality(String), String)"

_RESOURCE_SCOPE = f"""
ResourceAttributes {_MAP} CODEC(ZSTD(1)),
ResourceSchemaUrl String CODEC(ZSTD(1)),
ScopeName String CODEC(ZSTD(1)),
ScopeVersion String CODEC(ZSTD(1)),
ScopeAttributes {_MAP} CODEC(ZSTD(1)),
ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
ScopeSchemaUrl String CODEC(ZSTD(1)),
ServiceName LowCardinality(String) CODEC(ZSTD(1)),
MetricName LowCardinality(String) CODEC(ZSTD(1)),
MetricDescription String CODEC(ZSTD(1)),
MetricUnit String CODEC(ZSTD(1)),
Attributes {_MAP} CODEC(ZSTD(1)),
StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
"""

_EXEMPLARS = f"""
Exemplars Nested (
    FilteredAttributes {_MAP},
    TimeUnix DateTime64(9),
    Value Float64,
    SpanId String,
    TraceId String
) CODEC(ZSTD(1)),
"""

_METRIC_INDEXES = """
INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
"""


def _metric_table(name: str, value_columns: str) -> Table:
    return Table(
        name=name,
        body=_RESOURCE_SCOPE + value_columns.strip() + "\n" + _METRIC_INDEXES,
        partition_by="toDate(TimeUnix)",
        order_by="(ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))",
        ttl="toDateTime(TimeUnix)",
    )


TRACES = Table(
    name="otel_traces",
    body=f"""
Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
TraceId String CODEC(ZSTD(1)),
SpanId String CODEC(ZSTD(1)),
ParentSpanId String CODEC(ZSTD(1)),
TraceState String CODEC(ZSTD(1)),
SpanName LowCardinality(String) CODEC(ZSTD(1)),
SpanKind LowCardinality(String) CODEC(ZSTD(1)),
ServiceName LowCardinality(String) CODEC(ZSTD(1)),
ResourceAttributes {_MAP} CODEC(ZSTD(1)),
ScopeName String CODEC(ZSTD(1)),
ScopeVersion String CODEC(ZSTD(1)),
SpanAttributes {_MAP} CODEC(ZSTD(1)),
Duration UInt64 CODEC(ZSTD(1)),
StatusCode LowCardinality(String) CODEC(ZSTD(1)),
StatusMessage String CODEC(ZSTD(1)),
Events Nested (
    Timestamp DateTime64(9),
    Name LowCardinality(String),
    Attributes {_MAP}
) CODEC(ZSTD(1)),
Links Nested (
    TraceId String,
    SpanId String,
    TraceState String,
    Attributes {_MAP}
) CODEC(ZSTD(1)),
INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_duration Duration TYPE minmax GRANULARITY 1
""",
    partition_by="toDate(Timestamp)",
    primary_key="(ServiceName, SpanName, toDateTime(Timestamp))",
    order_by="(ServiceName, SpanName, toDateTime(Timestamp), Timestamp)",
    ttl="toDateTime(Timestamp)",
    shard_key="cityHash64(TraceId)",
)

TRACE_ID_TS = Table(
    name="otel_traces_trace_id_ts",
    body="""
TraceId String CODEC(ZSTD(1)),
Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),
End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1)),
INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
""",
    engine="AggregatingMergeTree()",
    partition_by="toStartOfWeek(Start)",
    order_by="(TraceId)",
    ttl="toDateTime(Start)",
    shard_key="cityHash64(TraceId)",
)

TRACE_ID_TS_MV = MaterializedView(
    name="otel_traces_trace_id_ts_mv",
    source="otel_traces",
    target="otel_traces_trace_id_ts",
    select="""
SELECT
    TraceId,
    min(toDateTime(Timestamp)) AS Start,
    max(toDateTime(Timestamp)) AS End
FROM {source}
WHERE TraceId != ''
GROUP BY TraceId
""",
)

GAUGE = _metric_table(
    "otel_metrics_gauge",
    f"""
Value Float64 CODEC(ZSTD(1)),
Flags UInt32 CODEC(ZSTD(1)),
{_EXEMPLARS}
""",
)

SUM = _metric_table(
    "otel_metrics_sum",
    f"""
Value Float64 CODEC(ZSTD(1)),
Flags UInt32 CODEC(ZSTD(1)),
{_EXEMPLARS}
AggregationTemporality Int32 CODEC(ZSTD(1)),
IsMonotonic Boolean CODEC(Delta, ZSTD(1)),
""",
)

HISTOGRAM = _metric_table(
    "otel_metrics_histogram",
    f"""
Count UInt64 CODEC(Delta, ZSTD(1)),
Sum Float64 CODEC(ZSTD(1)),
BucketCounts Array(UInt64) CODEC(ZSTD(1)),
ExplicitBounds Array(Float64) CODEC(ZSTD(1)),
{_EXEMPLARS}
Flags UInt32 CODEC(ZSTD(1)),
Min Float64 CODEC(ZSTD(1)),
Max Float64 CODEC(ZSTD(1)),
AggregationTemporality Int32 CODEC(ZSTD(1)),
""",
)

EXPONENTIAL_HISTOGRAM = _metric_table(
    "otel_metrics_exponential_histogram",
    f"""
Count UInt64 CODEC(Delta, ZSTD(1)),
Sum Float64 CODEC(ZSTD(1)),
Scale Int32 CODEC(ZSTD(1)),
ZeroCount UInt64 CODEC(ZSTD(1)),
PositiveOffset Int32 CODEC(ZSTD(1)),
PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
NegativeOffset Int32 CODEC(ZSTD(1)),
NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),
{_EXEMPLARS}
Flags UInt32 CODEC(ZSTD(1)),
Min Float64 CODEC(ZSTD(1)),
Max Float64 CODEC(ZSTD(1)),
AggregationTemporality Int32 CODEC(ZSTD(1)),
""",
)

SUMMARY = _metric_table(
    "otel_metrics_summary",
    """
Count UInt64 CODEC(Delta, ZSTD(1)),
Sum Float64 CODEC(ZSTD(1)),
ValueAtQuantiles Nested (
    Quantile Float64,
    Value Float64
) CODEC(ZSTD(1)),
Flags UInt32 CODEC(ZSTD(1)),
""",
)

LOGS = Table(
    name="otel_logs",
    body=f"""
Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
TimestampTime DateTime DEFAULT toDateTime(Timestamp),
TraceId String CODEC(ZSTD(1)),
SpanId String CODEC(ZSTD(1)),
TraceFlags UInt8,
SeverityText LowCardinality(String) CODEC(ZSTD(1)),
SeverityNumber UInt8,
ServiceName LowCardinality(String) CODEC(ZSTD(1)),
Body String CODEC(ZSTD(1)),
ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
ResourceAttributes {_MAP} CODEC(ZSTD(1)),
ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
ScopeName String CODEC(ZSTD(1)),
ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
ScopeAttributes {_MAP} CODEC(ZSTD(1)),
LogAttributes {_MAP} CODEC(ZSTD(1)),
INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
""",
    partition_by="toDate(TimestampTime)",
    primary_key="(ServiceName, TimestampTime)",
    order_by="(ServiceName, TimestampTime, Timestamp)",
    ttl="TimestampTime",
    shard_key="cityHash64(TraceId)",
)

OBJECTS: list[SchemaObject] = [
    TRACES,
    TRACE_ID_TS,
    TRACE_ID_TS_MV,
    GAUGE,
    SUM,
    HISTOGRAM,
    EXPONENTIAL_HISTOGRAM,
    SUMMARY,
    LOGS,
]
