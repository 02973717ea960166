"""The receiver's compiled span count answers only where upb agrees, with upb's counts.

``count_trace_spans`` lets the receiver skip parsing a plainly well-formed trace request
with upb; it must never take a body upb would refuse, nor count differently.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue

from tailsight.pipeline._otlp_native import count_trace_spans
from tailsight.pipeline.signals import SIGNALS, InvalidRequest, parse_body
from tests.pipeline.otlp_data import span_request
from tests.pipeline.otlp_gen import mutants, requests

TRACES = SIGNALS[0]


def upb_count(body: bytes) -> tuple[int, int] | None:
    try:
        return TRACES.check(parse_body(TRACES, body, False))
    except InvalidRequest:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(requests(any_ids=False), requests()))
def test_generated_requests_count_as_upb_counts(body: bytes) -> None:
    counted = count_trace_spans(body)
    assert counted is None or counted == upb_count(body)


def test_plain_requests_are_counted() -> None:
    req = span_request(50, resources=3)
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    spans[0].trace_id = b""
    spans[1].span_id = b""
    spans[2].status.message = "é"
    assert (
        count_trace_spans(req.SerializeToString()) == (50, 2) == upb_count(req.SerializeToString())
    )


def test_what_upb_must_judge_is_left_to_it() -> None:
    req = span_request(3, resources=1)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.add(key="a", value=AnyValue(array_value=ArrayValue()))
    assert count_trace_spans(req.SerializeToString()) is None  # arrays: upb's
    span.ClearField("attributes")
    span.span_id = b"\1" * 7  # refused with the span's name by check_traces
    assert count_trace_spans(req.SerializeToString()) is None
    span.span_id = b"\1" * 8
    body = req.SerializeToString()
    assert count_trace_spans(body) == (3, 0)
    assert count_trace_spans(body + b"\x98\x06\x01") is None  # an unknown field (99)
    bad_utf8 = body.replace(b"POST /v1/chat", b"POST /v1/ch\xff\xfe", 1)
    assert bad_utf8 != body and count_trace_spans(bad_utf8) is None
    assert upb_count(bad_utf8) is None


def test_counted_mutants_are_bodies_upb_accepts() -> None:
    bodies = [span_request(3, resources=2, seed=i).SerializeToString() for i in range(4)]
    counted = 0
    for body in mutants(bodies, 20_000, seed=11):
        got = count_trace_spans(body)
        if got is not None:
            assert got == upb_count(body), body
            counted += 1
    assert counted > 100  # changed string bytes and the like still count


def test_each_attribute_shape_counts_as_upb_counts() -> None:
    values = [
        AnyValue(),
        AnyValue(string_value=""),
        AnyValue(string_value="ünïcode ✓"),
        AnyValue(bool_value=True),
        AnyValue(int_value=300),
        AnyValue(int_value=-1),  # a ten-byte varint: past the short walk, to the general one
        AnyValue(double_value=0.25),
        AnyValue(bytes_value=b"\xff\x00"),
        AnyValue(string_value="x" * 200),  # a two-byte length
    ]
    for value in values:
        req = span_request(2, resources=1)
        req.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="k€y", value=value)
        body = req.SerializeToString()
        assert count_trace_spans(body) == (2, 0) == upb_count(body), value
    req = span_request(2, resources=1)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.add(key="kxy", value=AnyValue(string_value="vxw"))
    body = req.SerializeToString()
    # invalid UTF-8 in a plain key, then in its value
    for good, bad in ((b"kxy", b"k\xffy"), (b"vxw", b"v\xc0w")):
        broken = body.replace(good, bad, 1)
        assert broken != body
        assert count_trace_spans(broken) is None and upb_count(broken) is None
    # a value cut right after a string's tag, at the very end of the body (built by hand:
    # the SDK will not write it); and the same value whole
    for value, expected in ((b"\x0a", None), (b"\x0a\x00", (1, 0))):
        body = _one_span_body(b"\x0a\x04last\x12" + bytes([len(value)]) + value)
        assert count_trace_spans(body) == expected == upb_count(body)


def _one_span_body(kv: bytes) -> bytes:
    """An ExportTraceServiceRequest of one span whose only attribute is ``kv``, last."""

    def field(tag: int, payload: bytes) -> bytes:
        assert len(payload) < 128
        return bytes([tag, len(payload)]) + payload

    span = field(0x0A, b"\x01" * 16) + field(0x12, b"\x02" * 8) + field(0x4A, kv)
    return field(0x0A, field(0x12, field(0x12, span)))
