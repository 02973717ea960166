"""The real OpenTelemetry SDK exporters send to a running receiver; rows are compared field by field."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests.pipeline.conftest import Pipeline

pytestmark = pytest.mark.integration

RESOURCE = {"service.name": "llm-gateway", "host.name": "node-1", "process.pid": 4242}
# Attribute values and the strings the Collector's ClickHouse exporter writes for them.
ATTRIBUTES: dict[str, Any] = {
    "gen_ai.request.model": "llama-3-70b",
    "http.response.status_code": 503,
    "ratio": 0.25,
    "whole": 2.0,
    "huge": 1e21,
    "tiny": 1e-7,
    "ok": False,
    "tags": ["a", "b"],
    "ns": [1, 2],
}
EXPECTED_ATTRS = {
    "gen_ai.request.model": "llama-3-70b",
    "http.response.status_code": "503",
    "ratio": "0.25",
    "whole": "2",
    "huge": "1e+21",
    "tiny": "1e-7",
    "ok": "false",
    "tags": '["a","b"]',
    "ns": "[1,2]",
}
GRPC_COMPRESSION = {"none": grpc.Compression.NoCompression, "gzip": grpc.Compression.Gzip}


def _str(value: Any) -> str:
    return str(value) if not isinstance(value, bool) else str(value).lower()


def _make_spans(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("tailsight.test", "1.2.3")
    with tracer.start_as_current_span("POST /v1/chat", kind=SpanKind.SERVER, attributes=ATTRIBUTES):
        with tracer.start_as_current_span("embed", kind=SpanKind.CLIENT) as child:
            child.add_event("retry", {"attempt": 2, "why": "timeout"})
            child.set_status(Status(StatusCode.ERROR, "upstream 503"))
        linked = child.get_span_context()
        for i in range(20):
            with tracer.start_as_current_span(
                f"step-{i}", links=[Link(linked, {"link.kind": "follows"})]
            ) as span:
                span.set_attribute("i", i)
                span.set_status(Status(StatusCode.OK))


def _rows(p: Pipeline, n: int) -> dict[str, dict[str, Any]]:
    assert p.wait_rows("otel_traces", n) == n
    result = p.store.query(
        "SELECT toUnixTimestamp64Nano(Timestamp) AS ts, TraceId, SpanId, ParentSpanId, TraceState,"
        " SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion,"
        " SpanAttributes, Duration, StatusCode, StatusMessage,"
        " arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS ev_ts, Events.Name,"
        " Events.Attributes, Links.TraceId, Links.SpanId, Links.Attributes FROM otel_traces"
    )
    return {r["SpanId"]: r for r in result.named_results()}


def _compare(spans: Sequence[ReadableSpan], rows: dict[str, dict[str, Any]]) -> None:
    assert len(rows) == len(spans)
    kinds = {SpanKind.SERVER: "Server", SpanKind.CLIENT: "Client", SpanKind.INTERNAL: "Internal"}
    codes = {StatusCode.UNSET: "Unset", StatusCode.OK: "Ok", StatusCode.ERROR: "Error"}
    for span in spans:
        ctx = span.get_span_context()
        row = rows[f"{ctx.span_id:016x}"]
        assert row["ts"] == span.start_time
        assert row["Duration"] == span.end_time - span.start_time
        assert row["TraceId"] == f"{ctx.trace_id:032x}"
        assert row["ParentSpanId"] == (f"{span.parent.span_id:016x}" if span.parent else "")
        assert row["SpanName"] == span.name
        assert row["SpanKind"] == kinds[span.kind]
        assert row["ServiceName"] == "llm-gateway"
        assert row["ResourceAttributes"] == {
            k: _str(v) for k, v in span.resource.attributes.items()
        }
        assert row["ResourceAttributes"]["process.pid"] == "4242"
        assert (row["ScopeName"], row["ScopeVersion"]) == ("tailsight.test", "1.2.3")
        assert row["SpanAttributes"] == (
            EXPECTED_ATTRS
            if span.name == "POST /v1/chat"
            else {k: _str(v) for k, v in (span.attributes or {}).items()}
        )
        assert row["StatusCode"] == codes[span.status.status_code]
        assert row["StatusMessage"] == (span.status.description or "")
        assert row["ev_ts"] == [e.timestamp for e in span.events]
        assert row["Events.Name"] == [e.name for e in span.events]
        assert row["Events.Attributes"] == [
            {k: _str(v) for k, v in (e.attributes or {}).items()} for e in span.events
        ]
        assert row["Links.TraceId"] == [f"{x.context.trace_id:032x}" for x in span.links]
        assert row["Links.SpanId"] == [f"{x.context.span_id:016x}" for x in span.links]
        assert row["Links.Attributes"] == [{"link.kind": "follows"} for _ in span.links]
    assert sum(r["StatusCode"] == "Error" for r in rows.values()) == 1


@pytest.mark.parametrize(
    "transport",
    ["http", "http-gzip", "grpc", "grpc-gzip", "json", "json-gzip"],
)
def test_traces_arrive_field_by_field(pipeline: Pipeline, transport: str) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    kind, _, compression = transport.partition("-")
    if kind == "http":
        exporter: Any = HttpSpans(
            endpoint=pipeline.http + "/v1/traces",
            compression=Compression.Gzip if compression else Compression.NoCompression,
        )
    elif kind == "grpc":
        exporter = GrpcSpans(
            endpoint=pipeline.grpc,
            insecure=True,
            compression=GRPC_COMPRESSION[compression or "none"],
        )
    if kind != "json":
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    _make_spans(provider)
    provider.force_flush()
    provider.shutdown()
    spans = memory.get_finished_spans()
    if kind == "json":
        _post_json(pipeline, encode_spans(spans), gzip_it=bool(compression))
    _compare(spans, _rows(pipeline, len(spans)))


def _post_json(p: Pipeline, request: Any, gzip_it: bool) -> None:
    tree = json_format.MessageToDict(request)
    _ids_to_hex(tree)
    body = json.dumps(tree).encode()
    headers = {"Content-Type": "application/json"}
    if gzip_it:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    r = httpx.post(p.http + "/v1/traces", content=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {}


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_metrics_arrive_field_by_field(pipeline: Pipeline, transport: str) -> None:
    exporter: Any = (
        HttpMetrics(endpoint=pipeline.http + "/v1/metrics", compression=Compression.Gzip)
        if transport == "http"
        else GrpcMetrics(endpoint=pipeline.grpc, insecure=True)
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    views = [
        View(instrument_name="latency.exp", aggregation=ExponentialBucketHistogramAggregation())
    ]
    provider = MeterProvider([reader], resource=Resource.create(RESOURCE), views=views)
    meter = provider.get_meter("tailsight.test", "1.2.3")
    before = time.time_ns()
    requests = meter.create_counter("requests", unit="{request}", description="served")
    requests.add(5, {"route": "/chat"})
    requests.add(7, {"route": "/chat"})
    inflight = meter.create_up_down_counter("inflight")
    inflight.add(3)
    inflight.add(-1)
    latency = meter.create_histogram("latency", unit="s")
    exp = meter.create_histogram("latency.exp", unit="s")
    for v in (0.004, 0.02, 0.3, 7.0):
        latency.record(v, {"model": "m"})
        exp.record(v)

    def observe(_: CallbackOptions) -> list[Observation]:
        return [Observation(0.75, {"hw.id": "GPU-1"})]

    meter.create_observable_gauge("hw.gpu.utilization", [observe], unit="1")
    provider.shutdown()  # one final collection and export
    after = time.time_ns()

    assert pipeline.wait_rows("otel_metrics_exponential_histogram", 1) == 1
    # The writer inserts a segment's tables one by one: wait for the last one too.
    assert pipeline.wait_rows("otel_metrics_gauge", 1) == 1
    sums = {
        r["MetricName"]: r
        for r in pipeline.store.query(
            "SELECT *, toUnixTimestamp64Nano(TimeUnix) AS t, toUnixTimestamp64Nano(StartTimeUnix) AS s"
            " FROM otel_metrics_sum"
        ).named_results()
    }
    assert sums["requests"]["Value"] == 12.0
    assert sums["requests"]["Attributes"] == {"route": "/chat"}
    assert sums["requests"]["IsMonotonic"] is True
    assert sums["requests"]["AggregationTemporality"] == 2  # cumulative
    assert (sums["requests"]["MetricUnit"], sums["requests"]["MetricDescription"]) == (
        "{request}",
        "served",
    )
    assert sums["inflight"]["Value"] == 2.0 and sums["inflight"]["IsMonotonic"] is False
    for row in sums.values():
        assert row["ServiceName"] == "llm-gateway"
        assert row["ResourceAttributes"]["host.name"] == "node-1"
        assert (row["ScopeName"], row["ScopeVersion"]) == ("tailsight.test", "1.2.3")
        assert before <= row["s"] <= row["t"] <= after
    (hist,) = pipeline.store.query("SELECT * FROM otel_metrics_histogram").named_results()
    assert hist["Count"] == 4 and hist["Sum"] == pytest.approx(7.324)
    assert (hist["Min"], hist["Max"]) == (0.004, 7.0)
    assert hist["Attributes"] == {"model": "m"}
    assert len(hist["BucketCounts"]) == len(hist["ExplicitBounds"]) + 1
    assert sum(hist["BucketCounts"]) == 4
    (ehist,) = pipeline.store.query(
        "SELECT * FROM otel_metrics_exponential_histogram"
    ).named_results()
    assert ehist["Count"] == 4 and sum(ehist["PositiveBucketCounts"]) == 4
    assert ehist["Scale"] <= 20 and ehist["Max"] == 7.0
    (gauge,) = pipeline.store.query("SELECT * FROM otel_metrics_gauge").named_results()
    assert (gauge["MetricName"], gauge["Value"], gauge["MetricUnit"]) == (
        "hw.gpu.utilization",
        0.75,
        "1",
    )
    assert gauge["Attributes"] == {"hw.id": "GPU-1"}


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_logs_arrive(pipeline: Pipeline, transport: str) -> None:
    exporter: Any = (
        HttpLogs(endpoint=pipeline.http + "/v1/logs")
        if transport == "http"
        else GrpcLogs(endpoint=pipeline.grpc, insecure=True)
    )
    provider = LoggerProvider(resource=Resource.create(RESOURCE))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = logging.getLogger(f"tailsight.test.{transport}")
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    tracer = TracerProvider().get_tracer("t")
    try:
        with tracer.start_as_current_span("work") as span:
            logger.warning("disk %s is full", "/data", extra={"disk.free": 0})
    finally:
        logger.removeHandler(handler)
    provider.force_flush()
    provider.shutdown()
    assert pipeline.wait_rows("otel_logs", 1) == 1
    (row,) = pipeline.store.query("SELECT * FROM otel_logs").named_results()
    assert row["Body"] == "disk /data is full"
    assert row["SeverityNumber"] == 13 and row["SeverityText"] in ("WARN", "WARNING")
    assert row["ServiceName"] == "llm-gateway"
    assert row["LogAttributes"]["disk.free"] == "0"
    assert row["TraceId"] == f"{span.get_span_context().trace_id:032x}"
    assert row["SpanId"] == f"{span.get_span_context().span_id:016x}"
    assert row["TraceFlags"] == int(span.get_span_context().trace_flags) & 0xFF
