"""``ExportMetricsServiceRequest`` → rows of the exporter's five ``otel_metrics_*`` tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar

from tailsight.pipeline.anyvalue import attr_map, hex_id
from tailsight.pipeline.batch import Decoded, TableBatch

COMMON = (
    "ResourceAttributes",
    "ResourceSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "ScopeDroppedAttrCount",
    "ScopeSchemaUrl",
    "ServiceName",
    "MetricName",
    "MetricDescription",
    "MetricUnit",
    "Attributes",
    "StartTimeUnix",
    "TimeUnix",
)
EXEMPLARS = (
    "Exemplars.FilteredAttributes",
    "Exemplars.TimeUnix",
    "Exemplars.Value",
    "Exemplars.SpanId",
    "Exemplars.TraceId",
)
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "gauge": ("otel_metrics_gauge", COMMON + ("Value", "Flags") + EXEMPLARS),
    "sum": (
        "otel_metrics_sum",
        COMMON + ("Value", "Flags") + EXEMPLARS + ("AggregationTemporality", "IsMonotonic"),
    ),
    "histogram": (
        "otel_metrics_histogram",
        COMMON
        + ("Count", "Sum", "BucketCounts", "ExplicitBounds")
        + EXEMPLARS
        + ("Flags", "Min", "Max", "AggregationTemporality"),
    ),
    "exponential_histogram": (
        "otel_metrics_exponential_histogram",
        COMMON
        + ("Count", "Sum", "Scale", "ZeroCount", "PositiveOffset", "PositiveBucketCounts")
        + ("NegativeOffset", "NegativeBucketCounts")
        + EXEMPLARS
        + ("Flags", "Min", "Max", "AggregationTemporality"),
    ),
    "summary": (
        "otel_metrics_summary",
        COMMON + ("Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value", "Flags"),
    ),
}


def count_points(req: ExportMetricsServiceRequest) -> int:
    """Data points in the request."""
    total = 0
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(m, kind).data_points)
    return total


def _number(dp: Any) -> float:
    return float(dp.as_int) if dp.WhichOneof("value") == "as_int" else dp.as_double


def _exemplars(exemplars: Iterable[Exemplar]) -> tuple[list[Any], ...]:
    ex = list(exemplars)
    return (
        [attr_map(e.filtered_attributes) for e in ex],
        [e.time_unix_nano for e in ex],
        [_number(e) for e in ex],
        [hex_id(e.span_id) for e in ex],
        [hex_id(e.trace_id) for e in ex],
    )


def decode_metrics(req: ExportMetricsServiceRequest) -> Decoded:
    """Rows of the metric tables: one row per data point, in the table of its metric type."""
    batches: dict[str, TableBatch] = {}
    points = 0
    for rm in req.resource_metrics:
        resource = attr_map(rm.resource.attributes)
        service_name = resource.get("service.name", "")
        for sm in rm.scope_metrics:
            scope = sm.scope
            scope_attrs = attr_map(scope.attributes)
            head = (
                resource,
                rm.schema_url,
                scope.name,
                scope.version,
                scope_attrs,
                scope.dropped_attributes_count,
                sm.schema_url,
                service_name,
            )
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    continue
                data = getattr(metric, kind)
                if kind not in batches:
                    table, names = TABLES[kind]
                    batches[kind] = TableBatch(table, names)
                cols = batches[kind].columns
                meta = head + (metric.name, metric.description, metric.unit)
                for dp in data.data_points:
                    row: tuple[Any, ...] = meta + (
                        attr_map(dp.attributes),
                        dp.start_time_unix_nano,
                        dp.time_unix_nano,
                    )
                    row += _values(kind, data, dp)
                    for col, value in zip(cols, row, strict=True):
                        col.append(value)
                    points += 1
    return Decoded(tuple(batches.values()), points)


def _values(kind: str, data: Any, dp: Any) -> tuple[Any, ...]:
    if kind == "gauge":
        return (_number(dp), dp.flags) + _exemplars(dp.exemplars)
    if kind == "sum":
        return (
            (_number(dp), dp.flags)
            + _exemplars(dp.exemplars)
            + (data.aggregation_temporality, data.is_monotonic)
        )
    if kind == "histogram":
        return (
            (dp.count, dp.sum, list(dp.bucket_counts), list(dp.explicit_bounds))
            + _exemplars(dp.exemplars)
            + (dp.flags, dp.min, dp.max, data.aggregation_temporality)
        )
    if kind == "exponential_histogram":
        return (
            (dp.count, dp.sum, dp.scale, dp.zero_count)
            + (dp.positive.offset, list(dp.positive.bucket_counts))
            + (dp.negative.offset, list(dp.negative.bucket_counts))
            + _exemplars(dp.exemplars)
            + (dp.flags, dp.min, dp.max, data.aggregation_temporality)
        )
    # summary
    quantiles = list(dp.quantile_values)
    return (
        dp.count,
        dp.sum,
        [q.quantile for q in quantiles],
        [q.value for q in quantiles],
        dp.flags,
    )
