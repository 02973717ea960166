"""Generated OTLP trace requests: hypothesis strategies for valid ones, and mutated bodies."""

from __future__ import annotations

import math
import random
import time

from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

EDGE_DOUBLES = [
    0.0, -0.0, 1e21, 1e-7, 1e-6, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308,
    math.nan, math.inf, -math.inf, 123.456, 0.1, 1e20, 123456789012345678.0, 2.0**53,
    2.0**-1022, 9007199254740993.0, 4.35, -1.25e-7, 1e23, 2.0**63,
]  # fmt: skip


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
_ids = st.one_of(st.just(b""), st.just(b"\0" * 16), st.binary(min_size=1, max_size=17))
_keys = st.one_of(st.sampled_from(["service.name", "k", "http.route", ""]), _text)
_values = st.one_of(
    _text.map(lambda s: AnyValue(string_value=s)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.one_of(st.floats(), st.sampled_from(EDGE_DOUBLES)).map(lambda x: AnyValue(double_value=x)),
    st.binary(max_size=7).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue()),
    st.none(),
)
_attrs = st.lists(st.tuples(_keys, _values), max_size=4)
_NOW = time.time_ns() - 3600 * 10**9  # the test store drops rows older than 30 days


def _add(attrs: object, pairs: list[tuple[str, AnyValue | None]]) -> None:
    for key, value in pairs:
        kv = attrs.add(key=key)  # type: ignore[attr-defined]
        if value is not None:
            kv.value.CopyFrom(value)


def _sized(n: int) -> st.SearchStrategy[bytes]:
    return st.one_of(st.just(b""), st.binary(min_size=n, max_size=n))


@st.composite
def requests(draw: st.DrawFn, any_ids: bool = True) -> bytes:
    """A serialized request; ids of any length (all-zero and empty too) unless not ``any_ids``."""
    trace_ids, span_ids = (_ids, _ids) if any_ids else (_sized(16), _sized(8))
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        rs = req.resource_spans.add()
        if draw(st.booleans()):
            _add(rs.resource.attributes, draw(_attrs))
        for _ in range(draw(st.integers(0, 2))):
            ss = rs.scope_spans.add()
            if draw(st.booleans()):
                ss.scope.name, ss.scope.version = draw(_text), draw(_text)
            for _ in range(draw(st.integers(0, 3))):
                start = _NOW + draw(st.integers(0, 3 * 10**12))
                span = ss.spans.add(
                    trace_id=draw(trace_ids),
                    span_id=draw(span_ids),
                    parent_span_id=draw(span_ids),
                    trace_state=draw(_text),
                    name=draw(_text),
                    kind=draw(st.integers(-2, 7)),
                    start_time_unix_nano=start,
                    end_time_unix_nano=start + draw(st.integers(-(10**9), 10**12)),
                )
                _add(span.attributes, draw(_attrs))
                for _ in range(draw(st.integers(0, 2))):
                    ev = span.events.add(time_unix_nano=start + draw(st.integers(0, 10**9)))
                    ev.name = draw(_text)
                    _add(ev.attributes, draw(_attrs))
                for _ in range(draw(st.integers(0, 2))):
                    ln = span.links.add(trace_id=draw(_ids), span_id=draw(_ids))
                    ln.trace_state = draw(_text)
                    _add(ln.attributes, draw(_attrs))
                if draw(st.booleans()):
                    span.status.code = draw(st.integers(-1, 4))
                    span.status.message = draw(_text)
    return req.SerializeToString()


def mutants(bodies: list[bytes], count: int, seed: int = 3) -> list[bytes]:
    """``count`` corruptions of ``bodies``: truncated, bytes changed or inserted, noise."""
    rng = random.Random(seed)
    out: list[bytes] = []
    while len(out) < count:
        b = bytearray(rng.choice(bodies))
        how = rng.randrange(5)
        if how == 0:
            b = b[: rng.randrange(len(b))]  # truncated
        elif how == 1:
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)  # bytes changed
        elif how == 2:
            i = rng.randrange(len(b))
            b[i:i] = rng.randbytes(rng.randint(1, 12))  # bytes inserted
        elif how == 3:
            i = rng.randrange(len(b))
            b[i : i + 1] = b"\xff" * rng.randint(1, 11)  # a runaway varint
        else:
            b = bytearray(rng.randbytes(rng.randint(0, 64)))  # noise
        out.append(bytes(b))
    return out
