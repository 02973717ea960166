"""From collectors to OTLP: the OpenTelemetry SDK's observable instruments, one per catalogue metric.

Every export cycle of the ``PeriodicExportingMetricReader`` calls the instruments'
callbacks; the first callback of a cycle runs every collector once and the rest read
that snapshot, so each source is read once per interval. ``--once --output json`` uses
:func:`points_to_json` on one snapshot instead.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from tailsight.collectors.base import AttrValue, Collector, Point
from tailsight.collectors.catalogue import BY_NAME, spec

log = logging.getLogger(__name__)


def collect_all(collectors: Sequence[Collector]) -> list[Point]:
    """One snapshot of every collector; a collector that raises is logged and skipped."""
    now = time.time_ns()
    points: list[Point] = []
    for collector in collectors:
        try:
            for point in collector.collect():
                if point.metric not in BY_NAME:
                    log.warning(
                        "%s emitted %s, which is not in the catalogue", collector.name, point.metric
                    )
                    continue
                points.append(
                    point
                    if point.time_ns
                    else Point(point.metric, point.value, point.attributes, now)
                )
        except Exception:
            log.exception(
                "collector %s failed; its points are missing from this cycle", collector.name
            )
    return points


def points_to_json(points: Iterable[Point], resource: Mapping[str, AttrValue], out: IO[str]) -> int:
    """Write points as JSON lines (metric, type, unit, value, attributes, resource); returns the count."""
    n = 0
    for p in points:
        entry = spec(p.metric)
        out.write(
            json.dumps(
                {
                    "metric": p.metric,
                    "type": entry.kind,
                    "unit": entry.unit,
                    "value": p.value,
                    "attributes": dict(p.attributes),
                    "resource": dict(resource),
                    "time_unix_nano": p.time_ns,
                },
                sort_keys=True,
            )
            + "\n"
        )
        n += 1
    return n


class _Snapshot:
    """Points of the current export cycle, refreshed at most once per half interval."""

    def __init__(self, collectors: Sequence[Collector], interval_s: float) -> None:
        self._collectors = collectors
        self._max_age = interval_s / 2
        self._lock = threading.Lock()
        self._taken = -1e18
        self._by_metric: dict[str, list[Point]] = {}
        self.cycles = 0

    def expire(self) -> None:
        """The next callback reads the collectors again (a forced export, a benchmark)."""
        with self._lock:
            self._taken = -1e18

    def points(self, metric: str) -> list[Point]:
        with self._lock:
            now = time.monotonic()
            if now - self._taken > self._max_age:
                grouped: dict[str, list[Point]] = defaultdict(list)
                for p in collect_all(self._collectors):
                    grouped[p.metric].append(p)
                self._by_metric = dict(grouped)
                self._taken = now
                self.cycles += 1
            return self._by_metric.get(metric, [])


def make_exporter(endpoint: str, token: str | None = None, timeout_s: float = 10.0) -> Any:
    """An OTLP metric exporter: ``http(s)://host:4318`` → OTLP/HTTP, ``grpc://host:4317`` → OTLP/gRPC."""
    headers = {"authorization": f"Bearer {token}"} if token else None
    if endpoint.startswith("grpc://") or endpoint.startswith("grpcs://"):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as Grpc,
        )

        secure = endpoint.startswith("grpcs://")
        target = endpoint.split("://", 1)[1]
        return Grpc(endpoint=target, insecure=not secure, headers=headers, timeout=timeout_s)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Http

    url = endpoint.rstrip("/")
    if not url.endswith("/v1/metrics"):
        url += "/v1/metrics"
    return Http(endpoint=url, headers=headers, timeout=timeout_s)


def outcome_tracking(exporter: Any) -> Any:
    """Wraps an OTLP metric exporter so its results can be read: ``.exports`` and ``.failures``.

    The SDK's reader logs a failed export and carries on (right for a long-running agent);
    a one-shot ``--once`` export needs to know, to exit non-zero.
    """
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

    class OutcomeTracking(MetricExporter):
        def __init__(self) -> None:
            super().__init__(
                preferred_temporality=exporter._preferred_temporality,
                preferred_aggregation=exporter._preferred_aggregation,
            )
            self.exports = 0
            self.failures = 0

        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
            result = exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
            self.exports += 1
            if result is not MetricExportResult.SUCCESS:
                self.failures += 1
            return result

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return bool(exporter.force_flush(timeout_millis))

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            exporter.shutdown(timeout_millis=timeout_millis, **kwargs)

    return OutcomeTracking()


class OtlpMetricsBridge:
    """Exports the collectors' points over OTLP every ``interval_s`` until :meth:`shutdown`.

    Args:
        collectors: the sources to read.
        resource: resource attributes (``host.name``, ``k8s.*``, ``tailsight.switch.name`` …).
        exporter: an OTLP ``MetricExporter`` (see :func:`make_exporter`).
        interval_s: the collection and export interval.
        scope: the instrumentation scope name.
    """

    def __init__(
        self,
        collectors: Sequence[Collector],
        resource: Mapping[str, AttrValue],
        exporter: Any,
        interval_s: float = 1.0,
        scope: str = "tailsight",
        metrics: Iterable[str] | None = None,
    ) -> None:
        from opentelemetry.metrics import CallbackOptions, Observation
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        self.snapshot = _Snapshot(collectors, interval_s)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_s * 1000)
        # No exemplars: observations here carry no trace context, and the filter costs per point.
        self.provider = MeterProvider(
            resource=Resource.create(dict(resource)),
            metric_readers=[reader],
            exemplar_filter=AlwaysOffExemplarFilter(),
        )
        meter = self.provider.get_meter(scope)

        def callback_for(name: str) -> Any:
            def callback(options: CallbackOptions) -> Iterable[Observation]:
                return [
                    Observation(p.value, dict(p.attributes)) for p in self.snapshot.points(name)
                ]

            return callback

        for name in metrics if metrics is not None else BY_NAME:
            entry = spec(name)
            make = (
                meter.create_observable_counter
                if entry.kind == "sum"
                else meter.create_observable_gauge
            )
            make(
                name, callbacks=[callback_for(name)], unit=entry.unit, description=entry.description
            )

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        return bool(self.provider.force_flush(int(timeout_s * 1000)))

    def shutdown(self) -> None:
        self.provider.shutdown()
