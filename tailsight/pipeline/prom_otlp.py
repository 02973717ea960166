"""Builds one OTLP ``ExportMetricsServiceRequest`` from Prometheus-shaped points.

Both Prometheus paths (scrape and remote write) end here, so what they store is one
request through the spool like any OTLP export: the same fsync before the answer, the
same writer, the same tables. The shape follows the OpenTelemetry Collector's
Prometheus receiver: a resource per target (``service.name`` = job,
``service.instance.id`` = instance, ``server.address``/``server.port``), the other labels
as point attributes, counters as cumulative monotonic sums, gauges, classic histograms
and summaries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

Labels = tuple[tuple[str, str], ...]
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
SCOPE_NAME = "tailsight.prometheus"


class Emitter(Protocol):
    """Where converted points go: the request builder, or the semantic mapper in front of it."""

    def number(
        self, resource: Labels, name: str, kind: str, unit: str, attrs: Labels,
        ts_ns: int, value: float, start_ns: int = 0,
    ) -> None:
        """A gauge (``kind`` = ``gauge``) or cumulative monotonic sum (``sum``) point."""
        ...

    def histogram(
        self, resource: Labels, name: str, unit: str, attrs: Labels, ts_ns: int, start_ns: int,
        count: int, total: float, bounds: Sequence[float], counts: Sequence[int],
    ) -> None: ...

    def summary(
        self, resource: Labels, name: str, unit: str, attrs: Labels, ts_ns: int, start_ns: int,
        count: int, total: float, quantiles: Sequence[tuple[float, float]],
    ) -> None: ...

    def flush(self) -> None:
        """Emit what was held to combine several series (before the request is rendered)."""
        ...


def _set_attrs(target: Any, attrs: Labels) -> None:
    for key, value in attrs:
        kv = target.add()
        kv.key = key
        kv.value.string_value = value


class RequestBuilder:
    """Collects points by resource and metric; :meth:`request` renders them."""

    def __init__(self) -> None:
        self._req = ExportMetricsServiceRequest()
        self._scopes: dict[Labels, Any] = {}
        self._metrics: dict[tuple[Labels, str, str], Any] = {}
        self.points = 0

    def _metric(self, resource: Labels, name: str, kind: str, unit: str) -> Any:
        key = (resource, name, kind)
        metric = self._metrics.get(key)
        if metric is None:
            scope = self._scopes.get(resource)
            if scope is None:
                rm = self._req.resource_metrics.add()
                _set_attrs(rm.resource.attributes, resource)
                scope = rm.scope_metrics.add()
                scope.scope.name = SCOPE_NAME
                self._scopes[resource] = scope
            metric = scope.metrics.add()
            metric.name = name
            metric.unit = unit
            if kind == "sum":
                metric.sum.aggregation_temporality = CUMULATIVE
                metric.sum.is_monotonic = True
            elif kind == "histogram":
                metric.histogram.aggregation_temporality = CUMULATIVE
            self._metrics[key] = metric
        return metric

    def number(
        self, resource: Labels, name: str, kind: str, unit: str, attrs: Labels,
        ts_ns: int, value: float, start_ns: int = 0,
    ) -> None:
        dp = self._point(resource, name, kind, unit, attrs, ts_ns, start_ns)
        dp.as_double = value
        self.points += 1

    def _point(
        self, resource: Labels, name: str, kind: str, unit: str, attrs: Labels, ts_ns: int,
        start_ns: int,
    ) -> Any:
        dp = getattr(self._metric(resource, name, kind, unit), kind).data_points.add()
        _set_attrs(dp.attributes, attrs)
        dp.time_unix_nano = ts_ns
        dp.start_time_unix_nano = start_ns
        return dp

    def histogram(
        self, resource: Labels, name: str, unit: str, attrs: Labels, ts_ns: int, start_ns: int,
        count: int, total: float, bounds: Sequence[float], counts: Sequence[int],
    ) -> None:
        dp = self._point(resource, name, "histogram", unit, attrs, ts_ns, start_ns)
        dp.count = count
        if not math.isnan(total):
            dp.sum = total
        dp.explicit_bounds.extend(bounds)
        dp.bucket_counts.extend(counts)
        self.points += 1

    def summary(
        self, resource: Labels, name: str, unit: str, attrs: Labels, ts_ns: int, start_ns: int,
        count: int, total: float, quantiles: Sequence[tuple[float, float]],
    ) -> None:
        dp = self._point(resource, name, "summary", unit, attrs, ts_ns, start_ns)
        dp.count = count
        dp.sum = total
        for q, v in quantiles:
            qv = dp.quantile_values.add()
            qv.quantile = q
            qv.value = v
        self.points += 1

    def flush(self) -> None:
        pass

    def request(self) -> ExportMetricsServiceRequest:
        return self._req


def target_resource(
    job: str, instance: str, scheme: str | None = None
) -> Labels:
    """The resource of a target, as the Collector's Prometheus receiver builds it."""
    attrs: dict[str, str] = {"service.name": job, "service.instance.id": instance}
    host, sep, port = instance.rpartition(":")
    if sep and port.isdigit():
        attrs["server.address"] = host.strip("[]")
        attrs["server.port"] = port
    elif instance:
        attrs["server.address"] = instance
    if scheme:
        attrs["url.scheme"] = scheme
    return tuple(sorted(attrs.items()))
