"""One OTLP export per poll cycle for all switches: a ``ResourceMetrics`` per switch.

The OTel SDK's ``MeterProvider`` is bound to one resource, so a provider per switch
would mean a reader thread and an HTTP request per switch per interval. The poller
instead builds the SDK's own ``MetricsData`` (the type its exporters take) with one
resource per switch, and hands it to one real OTLP exporter: one request per cycle,
whatever the number of switches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from tailsight import __version__
from tailsight.collectors.base import Point
from tailsight.collectors.catalogue import BY_NAME, spec
from tailsight.collectors.snmp.poller import SwitchPoll

SCOPE = "tailsight.switch_poller"


def polls_to_metrics_data(polls: Sequence[SwitchPoll]) -> Any:
    """``MetricsData`` with one ``ResourceMetrics`` (``tailsight.switch.name``) per answered switch."""
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Gauge,
        Metric,
        MetricsData,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    scope = InstrumentationScope(SCOPE, __version__)
    resources = []
    for poll in polls:
        if not poll.points:
            continue
        by_metric: dict[str, list[Point]] = defaultdict(list)
        for p in poll.points:
            if p.metric in BY_NAME:
                by_metric[p.metric].append(p)
        metrics = []
        for name, points in by_metric.items():
            entry = spec(name)
            data_points = [
                NumberDataPoint(
                    attributes=dict(p.attributes),
                    start_time_unix_nano=poll.start_time_ns,
                    time_unix_nano=p.time_ns,
                    value=p.value,
                )
                for p in points
            ]
            data: Any = (
                Sum(data_points, AggregationTemporality.CUMULATIVE, is_monotonic=True)
                if entry.kind == "sum"
                else Gauge(data_points)
            )
            metrics.append(Metric(name, entry.description, entry.unit, data))
        resource = Resource.create({"tailsight.switch.name": poll.switch})
        resources.append(ResourceMetrics(resource, [ScopeMetrics(scope, metrics, "")], ""))
    return MetricsData(resources)


class SwitchMetricsExporter:
    """Sends each cycle's polls through one OTLP ``MetricExporter`` (see ``make_exporter``)."""

    def __init__(self, exporter: Any) -> None:
        self.exporter = exporter
        self.exports = 0
        self.failures = 0

    def export(self, polls: Sequence[SwitchPoll], timeout_s: float = 10.0) -> bool:
        """Export one cycle; returns whether the receiver accepted it (the SDK logs why not)."""
        from opentelemetry.sdk.metrics.export import MetricExportResult

        data = polls_to_metrics_data(polls)
        if not data.resource_metrics:
            return True
        result = self.exporter.export(data, timeout_millis=timeout_s * 1000)
        ok = bool(result == MetricExportResult.SUCCESS)
        self.exports += 1
        self.failures += 0 if ok else 1
        return ok

    def shutdown(self) -> None:
        self.exporter.shutdown()
