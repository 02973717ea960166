"""Issue 20, the small pieces: gzip members, the bearer check, names put into DDL, times, log floods."""

from __future__ import annotations

import gzip
import logging

import pytest

from tailsight.auth import bearer_ok
from tailsight.logs import RepeatFilter
from tailsight.pipeline.limits import Refused, gunzip
from tailsight.pipeline.times import MAX_NS, fix_trace_times
from tailsight.storage import StoreError, open_store
from tailsight.storage.ddl import Target
from tests.app.hostile_util import spans


def test_every_gzip_member_is_read_and_trailing_bytes_refused() -> None:
    assert gunzip(gzip.compress(b"ab") + gzip.compress(b"cd") + gzip.compress(b""), 100) == b"abcd"
    for bad in (
        gzip.compress(b"ab") + b"x",
        gzip.compress(b"ab") + b"\x1f\x8b",
        gzip.compress(b"ab")[:-3],
    ):
        with pytest.raises(Refused) as err:
            gunzip(bad, 100)
        assert err.value.status == 400
    with pytest.raises(Refused) as err:  # the bound counts every member
        gunzip(gzip.compress(b"a" * 60) + gzip.compress(b"b" * 60), 100)
    assert err.value.status == 413


def test_bearer_check() -> None:
    assert bearer_ok(None, [])
    for ok in ("Bearer t", "bearer t", "BEARER  t ", b"Bearer t"):
        assert bearer_ok("t", [ok])
    for bad in (
        [],
        ["Bearer t", "Bearer t"],
        ["Basic t"],
        ["Bearer"],
        ["t"],
        ["Bearer T"],
        ["Bearer t2"],
    ):
        assert not bearer_ok("t", bad)


@pytest.mark.parametrize("name", ["c1; DROP TABLE x", "a b", "x'", "", "1abc", "a-b", "`x`"])
def test_cluster_and_database_names_are_checked_before_ddl(name: str, tmp_path: object) -> None:
    with pytest.raises(ValueError, match="invalid cluster name"):
        Target("otel", cluster=name)
    with pytest.raises(ValueError, match="invalid database name"):
        Target(name or "-")
    with pytest.raises(StoreError, match="invalid cluster name"):
        open_store("http://127.0.0.1:1/otel", cluster=name)


def test_span_times_are_bounded_and_backward_spans_clamped() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from tailsight.pipeline.decode_traces import InvalidRequest

    req = ExportTraceServiceRequest.FromString(spans(["a"], start_ns=10**18, end_ns=10**17))
    assert fix_trace_times(req) == 1
    span = req.resource_spans[0].scope_spans[0].spans[0]
    assert span.end_time_unix_nano == span.start_time_unix_nano  # duration 0
    for start, end in ((MAX_NS, MAX_NS + 1), (10**18, MAX_NS), ((1 << 64) - 1, 0)):
        req = ExportTraceServiceRequest.FromString(spans(["late"], start_ns=start, end_ns=end))
        with pytest.raises(InvalidRequest, match="2106-02-07T06:28:16Z"):
            fix_trace_times(req)
    ok = ExportTraceServiceRequest.FromString(
        spans(["edge"], start_ns=MAX_NS - 2, end_ns=MAX_NS - 1)
    )
    assert fix_trace_times(ok) == 0


def test_repeated_log_lines_are_held_back_and_counted() -> None:
    flt = RepeatFilter(burst=3, window_s=0.2)

    def rec() -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, "", 0, "socket.send() raised", (), None)

    passed = [flt.filter(rec()) for _ in range(1000)]
    assert passed.count(True) == 3
    import time

    time.sleep(0.25)
    first = rec()
    assert flt.filter(first) and "997 more like this" in str(first.msg)
    other = logging.LogRecord("asyncio", logging.ERROR, "", 0, "another message", (), None)
    assert flt.filter(other)
