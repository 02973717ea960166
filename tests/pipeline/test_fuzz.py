"""Fuzzing both decoders (protobuf and OTLP JSON) with malformed bodies built to be malformed.

Every body is a valid request (contents drawn by hypothesis) with a corruption that makes
it invalid by construction: a field that runs past the end, an invalid wire type or field
number, a stray end-group, a truncated varint, invalid UTF-8 in a string, ids of a wrong
length; for JSON, broken syntax, wrong types, numbers that are not, ids that are not hex, lone
surrogates. ``test_fuzz_replay.py`` goes further: hostile bodies that may be valid, each
acknowledged one replayed through the writer into a store.
Most examples go straight to the parsing function the receivers use (10,000+ in a few
seconds); a few hundred go over HTTP to a running receiver, which must answer each with a
4xx, stay healthy, and write no row for any of them.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tailsight.pipeline.signals import SIGNALS, InvalidRequest, Signal, parse_body
from tailsight.protowire import varint
from tests.pipeline.conftest import Pipeline

SIGNAL = {s.name: s for s in SIGNALS}


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


def _valid(name: str, n: int, seed: int) -> Any:
    """A valid request of signal ``name`` with ``n`` items and varied attribute values."""
    a = [
        KeyValue(key="s", value=AnyValue(string_value=f"v{seed}é")),
        KeyValue(key="i", value=AnyValue(int_value=seed - 2**40)),
        KeyValue(key="d", value=AnyValue(double_value=seed / 7)),
        KeyValue(key="b", value=AnyValue(bool_value=bool(seed % 2))),
    ][: seed % 5]
    t = time.time_ns() + seed
    if name == "traces":
        req: Any = ExportTraceServiceRequest()
        ss = req.resource_spans.add(resource={"attributes": a}).scope_spans.add()
        for i in range(n):
            ss.spans.add(
                trace_id=os.urandom(16), span_id=os.urandom(8), name=f"s{i}",
                start_time_unix_nano=t, attributes=a,
            )  # fmt: skip
    elif name == "metrics":
        req = ExportMetricsServiceRequest()
        sm = req.resource_metrics.add(resource={"attributes": a}).scope_metrics.add()
        m = sm.metrics.add(name="m")
        for _ in range(n):
            m.gauge.data_points.add(time_unix_nano=t, as_double=1.5, attributes=a)
    else:
        req = ExportLogsServiceRequest()
        sl = req.resource_logs.add(resource={"attributes": a}).scope_logs.add()
        for _ in range(n):
            sl.log_records.add(time_unix_nano=t, body=AnyValue(string_value="x"), attributes=a)
    return req


# Valid requests to corrupt: built once, so hypothesis spends its examples on corruptions.
POOL = [
    (SIGNAL[name], _valid(name, n, seed))
    for name in ("traces", "metrics", "logs")
    for n in range(4)
    for seed in range(5)
]
requests = st.sampled_from(POOL)


def _nested(body: bytes) -> bytes:
    """``body`` as the first repeated field (resource_*) of a request: parsed eagerly, so still bad."""
    return b"\x0a" + varint(len(body)) + body


corruptions = st.one_of(
    # a length-delimited field longer than what follows
    st.tuples(st.integers(1, 30), st.integers(1, 1000), st.binary(max_size=8)).map(
        lambda x: varint(x[0] << 3 | 2) + varint(len(x[2]) + x[1]) + x[2]
    ),
    # wire types 6 and 7 do not exist; 4 (end group) without a start
    st.tuples(st.integers(1, 10_000), st.sampled_from((4, 6, 7))).map(
        lambda x: varint(x[0] << 3 | x[1])
    ),
    # field number 0
    st.sampled_from((0, 1, 2, 5)).map(lambda wt: bytes([wt]) + b"\x01" * 8),
    # a varint that never ends
    st.integers(1, 9).map(lambda k: b"\x08" + b"\xff" * k),
    # invalid UTF-8 in a string: resource.attributes[0].key
    st.binary(min_size=1, max_size=6).map(
        lambda b: _nested(
            b"\x0a" + varint(len(b) + 6) + b"\x0a" + varint(len(b) + 4)
            + b"\x0a" + varint(len(b) + 2) + b"\xc3\x28" + b
        )
    ),
)  # fmt: skip


@st.composite
def bad_protobuf(draw: st.DrawFn) -> tuple[Signal, bytes]:
    signal, req = draw(requests)
    body = req.SerializeToString()
    bad = draw(corruptions)
    if draw(st.booleans()):
        bad = _nested(b"" + bad)
    if signal.name == "traces" and draw(st.integers(0, 9)) == 0:
        span = ExportTraceServiceRequest()
        length = draw(st.sampled_from((1, 8, 15, 17, 32)))
        span.resource_spans.add().scope_spans.add().spans.add(
            trace_id=b"\1" * length, span_id=b"\2" * 8
        )
        bad = span.SerializeToString()
    return signal, body + bad


@st.composite
def bad_json(draw: st.DrawFn) -> tuple[Signal, bytes]:
    signal, req = draw(requests)
    tree = json_format.MessageToDict(req)
    top = next(iter(tree), None) or {"traces": "resourceSpans", "metrics": "resourceMetrics"}.get(
        signal.name, "resourceLogs"
    )
    kind = draw(st.integers(0, 6))
    if kind == 6:  # a lone surrogate, as a key or inside a string (upb raised SystemError: 500)
        text = json.dumps(tree)
        surrogate = draw(st.sampled_from(("\\ud800", "\\udfff", "\\udbff")))
        if draw(st.booleans()) or text == "{}":
            return signal, ('{"' + surrogate + '": 1}').encode()
        return signal, text.replace('"', '"' + surrogate, 1).encode()
    if kind == 0:  # broken syntax after a valid document
        return signal, json.dumps(tree).encode() + draw(st.sampled_from((b"}", b"]", b",", b"{")))
    if kind == 1:  # the top level is not an object
        return signal, json.dumps(draw(st.one_of(st.lists(st.integers()), st.integers()))).encode()
    if kind == 2:  # a repeated field holding a scalar
        tree[top] = draw(st.one_of(st.integers(), st.booleans(), st.floats()))
    elif kind == 3:  # a message field holding a scalar
        tree = {top: [{"resource": draw(st.one_of(st.integers(), st.booleans(), st.floats()))}]}
    elif kind == 4:  # an int64 that is not a number
        spans = [
            {"traceId": "ab" * 16, "spanId": "cd" * 8, "startTimeUnixNano": "x" + draw(st.text())}
        ]
        tree = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
        signal = SIGNAL["traces"]
    else:  # ids that are not hex, or hex of the wrong length
        tid = draw(st.one_of(st.just("zz" * 16), st.just("abc"), st.just("ab" * 15)))
        tree = {
            "resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": tid, "spanId": "cd" * 8}]}]}]
        }
        signal = SIGNAL["traces"]
    return signal, json.dumps(tree).encode()


def _rejected(signal: Signal, body: bytes, is_json: bool) -> bool:
    try:
        msg = parse_body(signal, body, is_json)
        signal.check(msg)
    except InvalidRequest:
        return True
    return False


@fuzz(5600)
@given(bad_protobuf())
def test_protobuf_decoder_rejects_malformed(case: tuple[Signal, bytes]) -> None:
    signal, body = case
    assert _rejected(signal, body, is_json=False), body


@fuzz(4500)
@given(bad_json())
def test_json_decoder_rejects_malformed(case: tuple[Signal, bytes]) -> None:
    signal, body = case
    assert _rejected(signal, body, is_json=True), body


@pytest.mark.integration
def test_receiver_answers_4xx_stays_healthy_and_writes_nothing(pipeline: Pipeline) -> None:
    sent = 0
    with httpx.Client(timeout=10) as client:

        @fuzz(200)
        @given(
            st.one_of(
                bad_protobuf().map(lambda c: (*c, False)), bad_json().map(lambda c: (*c, True))
            )
        )
        def post(case: tuple[Signal, bytes, bool]) -> None:
            nonlocal sent
            signal, body, is_json = case
            ctype = "application/json" if is_json else "application/x-protobuf"
            r = client.post(
                pipeline.http + signal.path, content=body, headers={"Content-Type": ctype}
            )
            assert r.status_code == 400, (r.status_code, body)
            assert r.headers["content-type"].startswith(ctype)
            sent += 1

        post()
        good = ExportTraceServiceRequest()
        now = time.time_ns()  # recent: the test store drops rows older than its TTL
        good.resource_spans.add().scope_spans.add().spans.add(
            trace_id=b"\1" * 16,
            span_id=b"\2" * 8,
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1,
        )
        r = client.post(
            pipeline.http + "/v1/traces",
            content=good.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert r.status_code == 200
    assert sent >= 200
    pipeline.idle()
    tables = ("otel_traces", "otel_metrics_gauge", "otel_logs")
    counts = {t: pipeline.store.rows(f"SELECT count() FROM {t}")[0][0] for t in tables}
    assert counts == {"otel_traces": 1, "otel_metrics_gauge": 0, "otel_logs": 0}
