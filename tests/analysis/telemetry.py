"""Writes telemetry rows into the exporter tables, as the OTLP receiver stores them.

For tests that need stored data shaped by hand (a counter reset at a known time, a
missing series); the end-to-end tests send the simulator's data through real ingest.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tailsight.storage.store import Store

SPAN_COLUMNS = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "SpanAttributes",
    "Duration",
    "StatusCode",
)
POINT_COLUMNS = (
    "ResourceAttributes",
    "ServiceName",
    "MetricName",
    "MetricUnit",
    "Attributes",
    "StartTimeUnix",
    "TimeUnix",
    "Value",
)


def span(
    service: str,
    ts: datetime,
    duration_ms: float,
    host: str = "",
    pid: str = "",
    trace: str | None = None,
    span_id: str | None = None,
    parent: str = "",
    kind: str = "Server",
    name: str = "generate",
) -> tuple[Any, ...]:
    res = {"service.name": service, "host.name": host, "process.pid": pid}
    return (
        ts,
        trace or secrets.token_hex(16),
        span_id or secrets.token_hex(8),
        parent,
        name,
        kind,
        service,
        res,
        {},
        int(duration_ms * 1e6),
        "Ok",
    )


def insert_spans(store: Store, spans: Sequence[tuple[Any, ...]]) -> None:
    store.insert("otel_traces", spans, SPAN_COLUMNS)


def point(
    metric: str,
    ts: datetime,
    value: float,
    unit: str = "1",
    host: str = "",
    switch: str = "",
    **attrs: str,
) -> tuple[Any, ...]:
    res = {k: v for k, v in (("host.name", host), ("tailsight.switch.name", switch)) if v}
    names = {
        "interface": "network.interface.name",
        "direction": "network.io.direction",
        "hw_id": "hw.id",
        "pid": "process.pid",
        "resource": "tailsight.pressure.resource",
        "link_switch": "tailsight.switch.name",
        "link_port": "tailsight.switch.port",
    }
    return (res, "", metric, unit, {names.get(k, k): v for k, v in attrs.items()}, ts, ts, value)


def insert_gauges(store: Store, points: Sequence[tuple[Any, ...]]) -> None:
    store.insert("otel_metrics_gauge", points, POINT_COLUMNS)


def insert_sums(store: Store, points: Sequence[tuple[Any, ...]], temporality: int = 2) -> None:
    rows = [(*p, temporality, True) for p in points]
    store.insert(
        "otel_metrics_sum", rows, (*POINT_COLUMNS, "AggregationTemporality", "IsMonotonic")
    )
