"""The agent's OTLP export: its request encoder, and which series each interval reports."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
)
from opentelemetry.sdk.resources import Resource

from tailsight.collectors.base import Point
from tailsight.collectors.otlp import ROLLUP_WINDOW_S, OtlpMetricsBridge, _Snapshot, make_exporter
from tailsight.collectors.otlp_encode import MetricsEncoder
from tailsight.storage import open_store
from tests.conftest import UpProcess


def metrics_data(observations: dict[str, list[tuple[float, dict[str, Any]]]], **kw: Any) -> Any:
    """What the SDK hands an exporter after one collection of these observable instruments."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"host.name": "n1", "tailsight.rank": 3, "ok": True}),
        metric_readers=[reader],
    )
    meter = provider.get_meter("tailsight", version=kw.get("version", "1.2.3"))

    def callback(name: str) -> Any:
        def cb(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(v, a) for v, a in observations[name]]

        return cb

    for name in observations:
        make = (
            meter.create_observable_counter
            if name.endswith("total")
            else meter.create_observable_gauge
        )
        make(
            name,
            callbacks=[callback(name)],
            unit=kw.get("unit", "By"),
            description=kw.get("description", ""),
        )
    if kw.get("histogram"):
        meter.create_histogram("latency").record(3.5, {"a": "b"})
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def test_encoder_writes_what_the_sdk_encoder_writes() -> None:
    data = metrics_data(
        {
            "bytes.total": [
                (12, {"network.interface.name": "eth0", "network.io.direction": "receive"}),
                (2**63 - 1, {"network.interface.name": "eth0", "network.io.direction": "transmit"}),
                (0.5, {"k": -(2**63), "neg": -1, "f": -0.0, "b": False, "ü": "grüße ✓"}),
            ],
            "power": [(712.25, {"hw.id": "GPU-1"}), (-3, {}), (float("inf"), {"x": 1e308})],
            "empty": [],
        },
        description="bytes moved",
    )
    encoded = MetricsEncoder().encode(data)
    assert encoded is not None
    assert ExportMetricsServiceRequest.FromString(encoded) == encode_metrics(data)
    # A second encoding, from the attribute cache, is the same.
    assert MetricsEncoder().encode(data) == encoded


def test_encoder_leaves_what_it_does_not_handle_to_the_sdk() -> None:
    arrays = metrics_data({"g": [(1, {"ranks": (1, 2)})]})
    assert MetricsEncoder().encode(arrays) is None
    histogram = metrics_data({"g": [(1, {})]}, histogram=True)
    assert MetricsEncoder().encode(histogram) is None


@pytest.mark.integration
def test_fast_exporters_deliver_over_http_and_grpc(up: UpProcess, tmp_path: Path) -> None:
    points = [
        Point(
            "system.network.io",
            1234,
            {"network.interface.name": "eth0", "network.io.direction": "receive"},
        ),
        Point("hw.power", 712.5, {"hw.id": "GPU-1", "hw.name": "H100", "hw.type": "gpu"}),
    ]

    class Fixed:
        name = "fixed"

        def collect(self) -> list[Point]:
            return points

    exporters = {
        "via-http": make_exporter(f"http://127.0.0.1:{up.otlp_http_port}"),
        "via-grpc": make_exporter(f"grpc://127.0.0.1:{up.otlp_grpc_port}"),
    }
    for host, exporter in exporters.items():
        bridge = OtlpMetricsBridge([Fixed()], {"host.name": host}, exporter, interval_s=3600)
        assert bridge.force_flush()
        bridge.shutdown()
        assert exporter.fast_path_taken >= 1, host  # force_flush, and shutdown's last export
    assert up.stop() == 0, up.output()  # the writer drains the spool on the way out
    store = open_store(f"chdb://{up.data_dir}")
    try:
        rows = store.rows(
            "SELECT DISTINCT * FROM ("
            "SELECT ResourceAttributes['host.name'] AS host, MetricName AS m, Value, Attributes "
            "FROM otel_metrics_gauge UNION ALL "
            "SELECT ResourceAttributes['host.name'], MetricName, Value, Attributes "
            "FROM otel_metrics_sum) ORDER BY host, m"
        )
    finally:
        store.close()
    assert [(h, m, v) for h, m, v, _ in rows] == [
        ("via-grpc", "hw.power", 712.5),
        ("via-grpc", "system.network.io", 1234.0),
        ("via-http", "hw.power", 712.5),
        ("via-http", "system.network.io", 1234.0),
    ]
    assert rows[0][3] == {"hw.id": "GPU-1", "hw.name": "H100", "hw.type": "gpu"}


class Moving:
    """Two counters, one of which moves every cycle, a steady gauge and a moving gauge."""

    name = "moving"

    def __init__(self) -> None:
        self.cycle = 0
        self.rng = random.Random(7)

    def collect(self) -> list[Point]:
        self.cycle += 1
        nic = {"network.interface.name": "eth0", "network.io.direction": "receive"}
        return [
            Point("system.network.io", 1000 * self.cycle, nic),
            Point("system.network.errors", 5 if self.cycle < 25 else 6, nic),
            Point("tailsight.nic.speed", 100e9, {"network.interface.name": "eth0"}),
            Point("hw.power", self.rng.uniform(300, 700), {"hw.id": "GPU-1"}),
        ]


def run_cycles(
    snapshot: _Snapshot, clock: list[float], cycles: int
) -> list[tuple[float, list[Point]]]:
    out = []
    for _ in range(cycles):
        clock[0] += 1.0
        snapshot.expire()
        reported = [
            p
            for m in (
                "system.network.io",
                "system.network.errors",
                "tailsight.nic.speed",
                "hw.power",
            )
            for p in snapshot.points(m)
        ]
        out.append((clock[0], reported))
    return out


def test_unchanged_counters_and_steady_gauges_wait_for_the_window_end() -> None:
    clock = [1_800_000_000.4]
    source = Moving()
    snapshot = _Snapshot([source], 1.0, clock=lambda: clock[0])
    cycles = run_cycles(snapshot, clock, 40)
    names = [sorted(p.metric for p in points) for _, points in cycles]
    # The first cycle reports everything; the moving ones are always there.
    assert len(names[0]) == 4
    for t, points in cycles:
        got = {p.metric for p in points}
        assert {"system.network.io", "hw.power"} <= got
        closing = (t + 1.25) // ROLLUP_WINDOW_S != t // ROLLUP_WINDOW_S
        if closing:
            assert len(got) == 4, t
    # errors: reported at the start, at each window's end, and when it moved (cycle 25).
    error_cycles = [
        i + 1
        for i, (_, ps) in enumerate(cycles)
        if any(p.metric == "system.network.errors" for p in ps)
    ]
    assert 25 in error_cycles
    assert len(error_cycles) < 40 // 2
    # Each 10 s window ends with every series' last value, as if all were reported always.
    last: dict[tuple[int, str], float] = {}
    truth: dict[tuple[int, str], float] = {}
    replay = Moving()
    for t, points in cycles:
        window = int(t // ROLLUP_WINDOW_S)
        for p in points:
            last[(window, p.metric)] = p.value
        for p in replay.collect():
            truth[(window, p.metric)] = p.value
    ended = int(cycles[-1][0] // ROLLUP_WINDOW_S)  # the last window has not ended yet
    assert {k: v for k, v in last.items() if k[0] < ended} == {
        k: v for k, v in truth.items() if k[0] < ended
    }
    assert snapshot.reported_points < 4 * 40 * 0.7


def test_report_unchanged_reports_every_series_every_interval() -> None:
    clock = [1_800_000_000.4]
    snapshot = _Snapshot([Moving()], 1.0, report_unchanged=True, clock=lambda: clock[0])
    assert all(len(points) == 4 for _, points in run_cycles(snapshot, clock, 15))
    # An interval as long as a window reports everything each time too.
    snapshot = _Snapshot([Moving()], 10.0, clock=lambda: clock[0])
    assert all(len(points) == 4 for _, points in run_cycles(snapshot, clock, 5))


class _Counting(MetricExporter):
    """An SDK exporter that only counts the exports it is handed (no network)."""

    def __init__(self) -> None:
        super().__init__()
        self.exports = 0

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kw: Any) -> Any:
        self.exports += 1
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kw: Any) -> None:
        pass


@pytest.mark.parametrize("timer", [True, False])
def test_the_reader_exports_on_its_own_only_with_its_timer(timer: bool) -> None:
    class One:
        name = "one"

        def collect(self) -> list[Point]:
            return [Point("hw.power", 1.0, {"hw.id": "GPU-0", "hw.type": "gpu"})]

    exporter = _Counting()
    bridge = OtlpMetricsBridge([One()], {"host.name": "h"}, exporter, interval_s=0.05, timer=timer)
    try:
        deadline = time.monotonic() + 5
        while timer and exporter.exports < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        if not timer:
            time.sleep(0.5)  # ten intervals
        assert (exporter.exports >= 2) if timer else (exporter.exports == 0)
        before = exporter.exports
        assert bridge.force_flush()
        assert exporter.exports > before  # an export the caller drives, timer or not
    finally:
        bridge.shutdown()
