"""From collectors to OTLP: the OpenTelemetry SDK's observable instruments, one per catalogue metric.

Every export cycle of the ``PeriodicExportingMetricReader`` calls the instruments'
callbacks; the first callback of a cycle runs every collector once and the rest read
that snapshot, so each source is read once per interval. ``--once --output json`` uses
:func:`points_to_json` on one snapshot instead.

Unchanged series are not reported every interval. A counter (``sum``) or a steady gauge
(capacity, link speed, wiring) whose value has not moved since it was last reported is
left out of the export, except in the last interval before each rollup window boundary
(:data:`ROLLUP_WINDOW_S`), when every series is reported. The store's windows therefore
end with every series' value, as if each had been reported every interval: counter rates
and steady gauges come out the same, while a node sends about half the points
(``bench/agent.py``). Gauges that move (utilization, power, memory in use) are reported
every interval, because their window means count points. ``report_unchanged`` turns this
off for receivers that need every series every interval.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any

from tailsight.collectors.base import AttrValue, Collector, Point
from tailsight.collectors.catalogue import BY_NAME, spec

log = logging.getLogger(__name__)

# The store's finest rollup window (``tailsight_metrics_10s``, storage migration 0004).
ROLLUP_WINDOW_S = 10.0
# Series that may skip an interval when unchanged: counters and steady gauges.
SKIPPABLE = frozenset(m.name for m in BY_NAME.values() if m.kind == "sum" or m.steady)


def collect_all(collectors: Sequence[Collector], stamp: bool = True) -> list[Point]:
    """One snapshot of every collector; a collector that raises is logged and skipped.

    ``stamp`` gives points without a time the snapshot's; the OTLP bridge does without
    (the SDK stamps each export).
    """
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
                    if point.time_ns or not stamp
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
    """Points of the current export cycle, refreshed at most once per half interval.

    Args:
        collectors: the sources, read once per refresh.
        interval_s: the export interval.
        report_unchanged: report every series every interval (see the module docstring).
        clock: wall-clock seconds; tests and benchmarks step it.
    """

    def __init__(
        self,
        collectors: Sequence[Collector],
        interval_s: float,
        report_unchanged: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._collectors = collectors
        self._interval_s = interval_s
        self._max_age = interval_s / 2
        self._report_unchanged = report_unchanged
        self._clock = clock
        self._lock = threading.Lock()
        self._taken = -1e18
        self._by_metric: dict[str, list[Point]] = {}
        self._reported: dict[tuple[str, tuple[tuple[str, AttrValue], ...]], float] = {}
        self.cycles = 0
        self.reported_points = 0

    def expire(self) -> None:
        """The next callback reads the collectors again (a forced export, a benchmark)."""
        with self._lock:
            self._taken = -1e18

    def report_all(self, now: float) -> bool:
        """Whether the cycle at ``now`` reports every series: the last one before a window ends.

        A quarter interval of slack covers the reader's timer jitter, so a late cycle does
        not leave a window without its closing report.
        """
        if self._report_unchanged or self._interval_s >= ROLLUP_WINDOW_S:
            return True
        w = ROLLUP_WINDOW_S
        return (now + 1.25 * self._interval_s) // w != now // w

    def _refresh(self) -> None:
        """Read every collector and keep, per metric, the points this cycle reports."""
        report_all = self.report_all(self._clock())
        if report_all:
            self._reported = {}  # rebuilt from this cycle: series that went away are forgotten
        reported = self._reported
        grouped: dict[str, list[Point]] = {}
        n = 0
        for p in collect_all(self._collectors, stamp=False):
            metric = p.metric
            if metric in SKIPPABLE:
                key = (metric, tuple(p.attributes.items()))
                if not report_all and reported.get(key) == p.value:
                    continue
                reported[key] = p.value
            group = grouped.get(metric)
            if group is None:
                group = grouped[metric] = []
            group.append(p)
            n += 1
        self._by_metric = grouped
        self.cycles += 1
        self.reported_points += n

    def points(self, metric: str) -> list[Point]:
        with self._lock:
            now = time.monotonic()
            if now - self._taken > self._max_age:
                self._refresh()
                self._taken = now
            return self._by_metric.get(metric, [])


def make_exporter(endpoint: str, token: str | None = None, timeout_s: float = 10.0) -> Any:
    """An OTLP metric exporter: ``http(s)://host:4318`` → OTLP/HTTP, ``grpc://host:4317`` → OTLP/gRPC."""
    from tailsight.collectors.otlp_encode import fast_exporter

    headers = {"authorization": f"Bearer {token}"} if token else None
    if endpoint.startswith("grpc://") or endpoint.startswith("grpcs://"):
        secure = endpoint.startswith("grpcs://")
        target = endpoint.split("://", 1)[1]
        return fast_exporter(
            True, endpoint=target, insecure=not secure, headers=headers, timeout=timeout_s
        )
    url = endpoint.rstrip("/")
    if not url.endswith("/v1/metrics"):
        url += "/v1/metrics"
    return fast_exporter(False, endpoint=url, headers=headers, timeout=timeout_s)


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
        metrics: the catalogue metrics to create instruments for (default: all).
        report_unchanged: report every series every interval, moved or not.
        clock: wall-clock seconds (tests and benchmarks step it).
        timer: export every ``interval_s`` on the reader's own thread; without it only
            :meth:`force_flush` exports (a benchmark that drives each cycle itself).
    """

    def __init__(
        self,
        collectors: Sequence[Collector],
        resource: Mapping[str, AttrValue],
        exporter: Any,
        interval_s: float = 1.0,
        scope: str = "tailsight",
        metrics: Iterable[str] | None = None,
        report_unchanged: bool = False,
        clock: Callable[[], float] = time.time,
        timer: bool = True,
    ) -> None:
        from opentelemetry.metrics import CallbackOptions, Observation
        from opentelemetry.sdk.metrics import (
            AlwaysOffExemplarFilter,
            ExemplarReservoir,
            MeterProvider,
        )
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.metrics.view import View
        from opentelemetry.sdk.resources import Resource

        self.snapshot = _Snapshot(collectors, interval_s, report_unchanged, clock)
        reader = PeriodicExportingMetricReader(
            exporter, export_interval_millis=interval_s * 1000 if timer else math.inf
        )

        class NoExemplars(ExemplarReservoir):
            def offer(self, *args: Any, **kwargs: Any) -> None:
                pass

            def collect(self, point_attributes: Any) -> list[Any]:
                return []

        def no_exemplars(aggregation: type) -> Any:
            return NoExemplars  # the SDK calls it with no arguments for each series

        # No exemplars: observations here carry no trace context, and the filter and the
        # default reservoir each cost something per point.
        self.provider = MeterProvider(
            resource=Resource.create(dict(resource)),
            metric_readers=[reader],
            exemplar_filter=AlwaysOffExemplarFilter(),
            views=[View(instrument_name="*", exemplar_reservoir_factory=no_exemplars)],
        )
        meter = self.provider.get_meter(scope)

        def callback_for(name: str) -> Any:
            def callback(options: CallbackOptions) -> Iterable[Observation]:
                # The SDK copies the attributes itself.
                return [Observation(p.value, p.attributes) for p in self.snapshot.points(name)]

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
