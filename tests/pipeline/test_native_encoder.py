"""The compiled encoder writes exactly the rows the store's SQL path writes, and survives bad input.

Each comparison inserts the same requests twice into the real embedded store: once parsed
and rendered by the engine (``insert_traces_protobuf``, the full form), once rendered by
``_otlp_native.c`` and read as Native; the rows must match column by column.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValueList

from tailsight.pipeline._otlp_native import traces_to_native, write_traces_native
from tailsight.pipeline.native_traces import write_native_traces
from tailsight.storage import Store
from tailsight.storage.otlp_protobuf import (
    insert_traces_native,
    insert_traces_protobuf,
    write_length_delimited,
)
from tests.pipeline.otlp_data import span_request
from tests.pipeline.otlp_gen import EDGE_DOUBLES, mutants, requests

_MAP = "mapKeys({0}), mapValues({0})"
_MAPS = "arrayMap(m -> mapKeys(m), {0}), arrayMap(m -> mapValues(m), {0})"
ROWS_SQL = f"""SELECT toUnixTimestamp64Nano(Timestamp), TraceId, SpanId, ParentSpanId, TraceState,
    SpanName, SpanKind, ServiceName, {_MAP.format("ResourceAttributes")}, ScopeName, ScopeVersion,
    {_MAP.format("SpanAttributes")}, Duration, StatusCode, StatusMessage,
    arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`), `Events.Name`,
    {_MAPS.format("`Events.Attributes`")}, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`,
    {_MAPS.format("`Links.Attributes`")}
FROM otel_traces"""


def _rows(store: Store) -> list[tuple[object, ...]]:
    rows = [tuple(r) for r in store.rows(ROWS_SQL)]
    store.command("TRUNCATE TABLE otel_traces")
    return sorted(rows, key=repr)


def sql_rows(store: Store, tmp: Path, payloads: Sequence[bytes]) -> list[tuple[object, ...]]:
    path = tmp / "requests.pb"
    write_length_delimited(path, list(payloads))
    insert_traces_protobuf(store, path, {})
    return _rows(store)


def native_rows(store: Store, tmp: Path, payloads: Sequence[bytes]) -> list[tuple[object, ...]]:
    out = traces_to_native(payloads)
    assert out is not None, "the encoder declined requests it should render"
    data, rows = out
    path = tmp / "requests.native"
    assert write_native_traces(payloads, path) == rows  # what the writer does
    assert path.read_bytes() == data
    if rows:
        insert_traces_native(store, path, {})
    got = _rows(store)
    assert len(got) == rows
    return got


def assert_same_rows(store: Store, tmp: Path, payloads: Sequence[bytes]) -> int:
    expected = sql_rows(store, tmp, payloads)
    got = native_rows(store, tmp, payloads)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        assert g == e
    return len(expected)


def test_bench_spans_render_as_the_sql_path(store: Store, tmp_path: Path) -> None:
    payloads = [span_request(200, resources=r, seed=r).SerializeToString() for r in (1, 4)]
    assert assert_same_rows(store, tmp_path, payloads) == 400


def test_edge_values_render_as_the_sql_path(store: Store, tmp_path: Path) -> None:
    req = span_request(len(EDGE_DOUBLES) + 8, resources=2)
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    for span, x in zip(spans, EDGE_DOUBLES, strict=False):
        span.attributes.add(key="x", value=AnyValue(double_value=x))
    extra = spans[len(EDGE_DOUBLES) :]
    extra[0].attributes.add(key="i", value=AnyValue(int_value=-(2**63)))
    extra[0].attributes.add(key="b", value=AnyValue(bytes_value=b"\0\xff\x10"))
    extra[0].attributes.add(key="e")  # no value at all
    extra[0].attributes.add(key="e2", value=AnyValue())  # a value with no kind
    extra[1].end_time_unix_nano = extra[1].start_time_unix_nano - 5  # Duration wraps
    extra[2].kind, extra[2].status.code = -1, 7  # out of range: ''
    extra[3].trace_id = b"\0" * 16  # kept, rendered ''
    extra[4].span_id = b""  # skipped by both paths
    ev = extra[5].events.add(time_unix_nano=time.time_ns(), name="retry")
    ev.attributes.add(key="attempt", value=AnyValue(int_value=2))
    extra[5].events.add()
    link = extra[6].links.add(trace_id=b"\1" * 16, span_id=b"\0" * 8, trace_state="k=v")
    link.attributes.add(key="w", value=AnyValue(double_value=0.5))
    extra[6].links.add()
    attrs = req.resource_spans[1].resource.attributes
    attrs.add(key="service.name", value=AnyValue(int_value=7))  # a second one: the first counts
    req.resource_spans[0].ClearField("resource")
    req.resource_spans[1].scope_spans[0].ClearField("scope")
    assert assert_same_rows(store, tmp_path, [req.SerializeToString()]) == len(spans) - 1


def test_doubles_print_as_the_sql_path_prints_them(store: Store, tmp_path: Path) -> None:
    # Every power of two (lopsided rounding intervals), random bit patterns, short decimals.
    rng = random.Random(5)
    xs = [2.0**k for k in range(-1074, 1024)]
    xs += [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(3000)]
    xs += [float(f"{rng.randrange(1, 10**6)}e{rng.randrange(-30, 30)}") for _ in range(1000)]
    req = span_request(1, resources=1)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    for x in xs:
        span.attributes.add(key="x", value=AnyValue(double_value=x))
    assert assert_same_rows(store, tmp_path, [req.SerializeToString()]) == 1


ORDER_SQL = """SELECT ServiceName, SpanName, toUnixTimestamp64Nano(Timestamp)
FROM file({path:String}, 'Native')"""


def _already_sorted(store: Store) -> int:
    rows = store.rows(
        "SELECT value FROM system.events WHERE event = 'MergeTreeDataWriterBlocksAlreadySorted'"
    )
    return int(rows[0][0]) if rows else 0


def test_spans_are_rendered_in_the_tables_order(store: Store, tmp_path: Path) -> None:
    # Several services and names, equal starts, a prefix of another name, bytes past
    # ASCII, no name, no service: the engine compares raw bytes, shorter first on a tie.
    req = span_request(60, resources=3, seed=2)
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    for i, (span, name) in enumerate(
        zip(spans, ["a", "ab", "a\x00", "é", "Z", ""] * 10, strict=True)
    ):
        span.name = name
        if i % 7 == 0:
            span.start_time_unix_nano = spans[0].start_time_unix_nano
    req.resource_spans[2].resource.ClearField("attributes")  # ServiceName ''
    payloads = [req.SerializeToString(), span_request(300, seed=3).SerializeToString()]
    path = tmp_path / "ordered.native"
    rows = write_native_traces(payloads, path)
    assert rows == 360
    got = [(s.encode(), n.encode(), t) for s, n, t in store.rows(ORDER_SQL, {"path": str(path)})]
    assert got == sorted(got, key=lambda r: (r[0], r[1], r[2] // 10**9, r[2]))
    assert len({r[:2] for r in got}) > 10

    # the engine takes the block as sorted; the same rows shuffled it sorts itself
    before = _already_sorted(store)
    insert_traces_native(store, path, {})
    ours = _already_sorted(store) - before
    store.command(
        "INSERT INTO otel_traces SELECT * FROM file({path:String}, 'Native') ORDER BY rand()",
        {"path": str(path)},
    )
    shuffled = _already_sorted(store) - before - ours
    assert ours == shuffled + 1


def test_timestamps_past_the_packed_key_still_render_every_span(
    store: Store, tmp_path: Path
) -> None:
    # Starts from 0 to 2**64 - 1 (the engine reads it as -1) need all 64 bits: the encoder
    # falls back to a comparison sort. (The store's TTL would drop such rows: read the file.)
    starts = [0, 2**64 - 1, 2**63, 2**63 - 1, 1, 2**62, 5, 5]
    req = span_request(8, resources=2, seed=4)
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    for span, start in zip(spans, starts, strict=True):
        span.start_time_unix_nano = start
    path = tmp_path / "wide.native"
    assert write_native_traces([req.SerializeToString()], path) == 8
    got = store.rows(
        "SELECT SpanId, reinterpretAsUInt64(Timestamp) FROM file({path:String}, 'Native')",
        {"path": str(path)},
    )
    assert sorted(got) == sorted((s.span_id.hex(), s.start_time_unix_nano) for s in spans)


def test_a_block_written_over_a_longer_one_is_cut_to_size(tmp_path: Path) -> None:
    path = tmp_path / "reused.native"
    big = [span_request(400, seed=1).SerializeToString()]
    small = [span_request(3, seed=2).SerializeToString()]
    assert write_native_traces(big, path) == 400
    assert write_native_traces(small, path) == 3
    out = traces_to_native(small)
    assert out is not None and path.read_bytes() == out[0]


def test_array_and_map_values_are_left_to_the_sql_path(tmp_path: Path) -> None:
    for value in (
        AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])),
        AnyValue(kvlist_value=KeyValueList()),
    ):
        req = span_request(3, resources=1)
        req.resource_spans[0].scope_spans[0].spans[2].attributes.add(key="n", value=value)
        assert traces_to_native([req.SerializeToString()]) is None
        assert write_native_traces([req.SerializeToString()], tmp_path / "x") is None


def test_no_spans_is_an_empty_block() -> None:
    data, rows = traces_to_native([b"", ExportTraceServiceRequest().SerializeToString()]) or (
        b"",
        -1,
    )
    assert rows == 0 and data.startswith(b"\x16\x00")  # 22 columns, no rows


# --- hypothesis: generated requests through both paths ------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(requests(), min_size=1, max_size=4))
def test_generated_requests_render_as_the_sql_path(
    store: Store, tmp_path: Path, payloads: list[bytes]
) -> None:
    assert_same_rows(store, tmp_path, payloads)


# --- fuzz: malformed and truncated bodies ---------------------------------------------------


def test_malformed_bodies_raise_cleanly() -> None:
    req = span_request(4, resources=2)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    span.events.add(name="e").attributes.add(key="x", value=AnyValue(double_value=0.25))
    span.links.add(trace_id=b"\1" * 16, span_id=b"\2" * 8).attributes.add(key="y")
    bodies = [req.SerializeToString(), span_request(2, resources=1, seed=1).SerializeToString()]
    outcomes = {"rendered": 0, "declined": 0, "invalid": 0}
    for body in mutants(bodies, 12_000):
        try:
            out = traces_to_native([body])
        except ValueError:
            outcomes["invalid"] += 1
            continue
        if out is None:
            outcomes["declined"] += 1
        else:
            data, rows = out
            assert rows >= 0 and data[:1] == b"\x16"
            outcomes["rendered"] += 1
    assert sum(outcomes.values()) == 12_000
    assert min(outcomes.values()) > 0, outcomes  # each outcome was reached


def test_an_unwritable_path_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_traces_native([span_request(2).SerializeToString()], tmp_path / "no" / "such")


def test_payloads_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        traces_to_native([b"", "text"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        traces_to_native(3)  # type: ignore[arg-type]
    assert struct.unpack("<B", traces_to_native([])[0][:1])[0] == 22  # type: ignore[index]
