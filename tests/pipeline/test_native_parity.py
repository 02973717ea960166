"""The store's own protobuf path for spans writes exactly what the Python decoder writes."""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

import tailsight.pipeline
from tailsight.pipeline import native_traces
from tailsight.pipeline.nested_values import has_nested_values
from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.spool import Spool, encode_record
from tailsight.pipeline.writer import SpoolWriter
from tailsight.storage import Store
from tests.pipeline.otlp_data import span_request

VALUES = [
    AnyValue(string_value='quote " back \\ <tag> & é \u2028'),
    AnyValue(int_value=-(2**63)),
    AnyValue(double_value=1e21),
    AnyValue(double_value=-1.25e-7),
    AnyValue(double_value=123456789012345678.0),
    AnyValue(double_value=math.nan),
    AnyValue(double_value=-math.inf),
    AnyValue(double_value=0.1),
    AnyValue(bool_value=True),
    AnyValue(bytes_value=b"\x00\xffbytes"),
    AnyValue(),
    AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a<"), AnyValue(int_value=3)])),
    AnyValue(
        array_value=ArrayValue(
            values=[
                AnyValue(double_value=2.0),
                AnyValue(bool_value=False),
                AnyValue(bytes_value=b"x"),
            ]
        )
    ),
    AnyValue(
        kvlist_value=KeyValueList(
            values=[
                KeyValue(key="z", value=AnyValue(double_value=1e-7)),
                KeyValue(key="a", value=AnyValue(string_value="1")),
            ]
        )
    ),
]


SCALARS = [v for v in VALUES if v.WhichOneof("value") not in ("array_value", "kvlist_value")]


def _request(values: list[AnyValue] = VALUES) -> ExportTraceServiceRequest:
    req = span_request(30, resources=3)
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    for i, value in enumerate(values):
        spans[i].attributes.add(key=f"v{i}", value=value)
        spans[i].kind = i % 7  # includes an out-of-range kind
        spans[i].status.code = i % 3
    ev = spans[0].events.add(time_unix_nano=time.time_ns(), name="retry")
    ev.attributes.add(key="attempt", value=AnyValue(int_value=2))
    link = spans[1].links.add(trace_id=b"\1" * 16, span_id=b"\2" * 8, trace_state="k=v")
    link.attributes.add(key="w", value=AnyValue(double_value=0.5))
    spans[2].parent_span_id = b"\0" * 8
    spans[3].trace_id = b""  # rejected by both paths
    req.resource_spans[1].resource.attributes.add(key="b", value=AnyValue(bytes_value=b"\1"))
    return req


def _rows(store: Store) -> list[tuple[object, ...]]:
    return list(
        store.rows(
            "SELECT * EXCEPT (Timestamp), toUnixTimestamp64Nano(Timestamp) FROM otel_traces"
            " ORDER BY SpanId"
        )
    )


@pytest.mark.parametrize("values", [VALUES, SCALARS], ids=["nested", "scalar"])
def test_native_and_python_paths_write_identical_rows(
    store: Store, tmp_path: Path, values: list[AnyValue]
) -> None:
    body = _request(values).SerializeToString()
    assert has_nested_values(body) == (values is VALUES)  # each native form is covered
    results = []
    # Python decoder; encoder (or the store's parser) from a file; encoder bytes sent as a
    # server store is sent them (the embedded store takes them too).
    for native, files in ((False, True), (True, True), (True, False)):
        spool_dir = tmp_path / f"spool-{native}-{files}"
        spool_dir.mkdir()
        segment = spool_dir / "000000000001-x.seg"
        segment.write_bytes(encode_record(1, body, 29))
        writer = SpoolWriter(
            Spool(spool_dir), store, IngestMetrics(), native_traces=native, trace_files=files
        )
        writer.spool.recover()
        assert writer.write_segment(segment)
        results.append(_rows(store))
        store.command("TRUNCATE TABLE otel_traces")
    python_rows = results[0]
    assert len(python_rows) == 29
    for other in results[1:]:
        for p, n in zip(python_rows, other, strict=True):
            assert p == n


def _with(where: str, value: AnyValue) -> bytes:
    req = span_request(4, resources=2)
    rs = req.resource_spans[1]
    span = rs.scope_spans[0].spans[1]
    attrs = {
        "resource": rs.resource.attributes,
        "span": span.attributes,
        "event": span.events.add(name="e").attributes,
        "link": span.links.add(trace_id=b"\1" * 16, span_id=b"\2" * 8).attributes,
    }[where]
    attrs.add(key="nested", value=value)
    return req.SerializeToString()


@pytest.mark.parametrize("where", ["resource", "span", "event", "link"])
def test_nested_values_are_found_wherever_they_are(where: str) -> None:
    assert not has_nested_values(_with(where, AnyValue(string_value="flat")))
    assert has_nested_values(_with(where, AnyValue(array_value=ArrayValue())))
    assert has_nested_values(_with(where, AnyValue(kvlist_value=KeyValueList())))


def test_an_unreadable_request_takes_the_full_form() -> None:
    assert has_nested_values(b"\x0a\xff")  # a length past the end


def test_without_the_compiled_encoder_spans_take_the_sql_path(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As on a machine where tailsight was installed without a C compiler.
    monkeypatch.setitem(sys.modules, "tailsight.pipeline._otlp_native", None)
    monkeypatch.delattr(tailsight.pipeline, "_otlp_native")
    importlib.reload(native_traces)
    try:
        assert not native_traces.available()
        body = _request(SCALARS).SerializeToString()
        assert native_traces.count_spans(body) is None
        spool_dir = tmp_path / "spool"
        spool_dir.mkdir()
        for n in (1, 2):
            segment = spool_dir / f"00000000000{n}-x.seg"
            segment.write_bytes(encode_record(1, body, 29))
        writer = SpoolWriter(Spool(spool_dir), store, IngestMetrics(), native_traces=True)
        writer.spool.recover()
        with caplog.at_level(logging.DEBUG, logger=native_traces.__name__):
            for segment in writer.spool.sealed():
                assert writer.write_segment(segment)
        assert len(_rows(store)) == 2 * 29
        said = [r for r in caplog.records if "not installed" in r.getMessage()]
        assert len(said) == 1  # once, however many segments
    finally:
        monkeypatch.undo()
        importlib.reload(native_traces)
    assert native_traces.available()


def test_trace_insert_files_left_by_a_crash_are_removed_at_start(
    store: Store, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    for name in ("000000000007-x.traces.native", "000000000007-x.traces.pb"):
        (spool_dir / name).write_bytes(b"\0" * 100)
    writer = SpoolWriter(Spool(spool_dir), store, IngestMetrics())

    async def start_stop() -> None:
        await writer.start()
        await writer.stop()

    asyncio.run(start_stop())
    assert not list(spool_dir.glob("*.traces.*"))


@pytest.mark.parametrize("files", [True, False], ids=["file", "bytes"])
def test_a_segment_written_again_is_not_doubled(store: Store, tmp_path: Path, files: bool) -> None:
    body = _request(SCALARS).SerializeToString()
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    writer = SpoolWriter(Spool(spool_dir), store, IngestMetrics(), trace_files=files)
    writer.spool.recover()
    for _ in range(2):  # as after a crash between the insert and the segment's removal
        segment = spool_dir / "000000000001-x.seg"
        segment.write_bytes(encode_record(1, body, 29))
        assert writer.write_segment(segment)
    assert len(_rows(store)) == 29
