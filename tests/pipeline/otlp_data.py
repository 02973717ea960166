"""OTLP requests built directly as protobuf, for tests and benchmarks that need exact control."""

from __future__ import annotations

import os
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


SPREAD_NS = 1000 * 10**9  # the starts of one request's spans
DAY_NS = 86400 * 10**9


def span_request(
    spans: int, resources: int = 4, seed: int = 0, names: list[str] | None = None
) -> ExportTraceServiceRequest:
    """A realistic request: ``resources`` services, each span with 12 attributes, last hour.

    Span names are ``names`` in order when given (so a test can find each span again).
    """
    rng = random.Random(seed)
    # Recent times: the test store keeps 30 days and drops older rows as they are inserted.
    base = time.time_ns() - 3600 * 10**9
    # All on one day (one partition, so one part an insert) even an hour after midnight.
    last = base + SPREAD_NS
    if last // DAY_NS != base // DAY_NS:
        base = last // DAY_NS * DAY_NS
    req = ExportTraceServiceRequest()
    per = [spans // resources + (1 if i < spans % resources else 0) for i in range(resources)]
    k = 0
    for r, count in enumerate(per):
        rs: ResourceSpans = req.resource_spans.add()
        rs.resource.attributes.extend(
            [
                _kv("service.name", f"svc-{r}"),
                _kv("host.name", f"node-{r % 3}"),
                _kv("process.pid", 1000 + r),
                _kv("k8s.pod.name", f"pod-{r}-{rng.randrange(1 << 16):x}"),
                _kv("k8s.namespace.name", "inference"),
                _kv("telemetry.sdk.language", "python"),
            ]
        )
        ss: ScopeSpans = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = "tailsight.bench", "1.0"
        for _ in range(count):
            start = base + rng.randrange(SPREAD_NS)
            span: Span = ss.spans.add(
                trace_id=os.urandom(16),
                span_id=os.urandom(8),
                parent_span_id=os.urandom(8) if rng.random() < 0.7 else b"",
                name=names[k] if names else rng.choice(("POST /v1/chat", "embed", "rerank")),
                kind=rng.choice((Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT)),
                start_time_unix_nano=start,
                end_time_unix_nano=start + rng.randrange(10**6, 10**9),
            )
            k += 1
            span.attributes.extend(
                [
                    _kv("http.request.method", "POST"),
                    _kv("http.route", "/v1/chat/completions"),
                    _kv("http.response.status_code", rng.choice((200, 200, 200, 503))),
                    _kv("server.address", "gateway.inference.svc"),
                    _kv("server.port", 8080),
                    _kv("gen_ai.request.model", rng.choice(("llama-3-70b", "mistral-7b"))),
                    _kv("gen_ai.usage.input_tokens", rng.randrange(10, 4000)),
                    _kv("gen_ai.usage.output_tokens", rng.randrange(1, 1000)),
                    _kv("gen_ai.request.temperature", 0.7),
                    _kv("gen_ai.request.stream", rng.random() < 0.5),
                    _kv("user.id", f"user-{rng.randrange(1000)}"),
                    _kv("net.peer.name", f"10.0.{r}.{rng.randrange(255)}"),
                ]
            )
            if rng.random() < 0.1:
                span.status.code = span.status.STATUS_CODE_ERROR
                span.status.message = "upstream timeout"
    return req
