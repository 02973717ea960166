"""The writer against requests the store refuses for good, and against a store that is down."""

from __future__ import annotations

import asyncio
import shutil
import struct
from pathlib import Path

from tailsight.pipeline.intake import admit
from tailsight.pipeline.quarantine import is_permanent
from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.signals import SIGNALS
from tailsight.pipeline.spool import Spool, encode_record
from tailsight.pipeline.writer import SpoolWriter
from tailsight.storage import Store, StoreError
from tests.app.hostile_util import field, raw_span_request, spans

SIGNAL = {s.name: s for s in SIGNALS}
CODE = {s.name: s.code for s in SIGNALS}


def _writer(store: Store, spool: Path, native: bool = True) -> SpoolWriter:
    writer = SpoolWriter(Spool(spool), store, IngestMetrics(), native_traces=native)
    writer.spool.recover()
    return writer


def _oneof_poison(name: bytes) -> bytes:
    """A span whose attribute value has two oneof members: upb takes it, the store's parser not."""
    two = field(1, 2, b"s") + field(3, 0, b"\x05")
    return raw_span_request(name, field(9, 2, field(1, 2, b"k") + field(2, 2, two)))


def _names(store: Store) -> dict[str, int]:
    rows = store.rows("SELECT SpanName, count() FROM otel_traces GROUP BY SpanName")
    return {str(n): int(c) for n, c in rows}


def test_a_segment_split_and_replayed_stores_each_good_request_once(
    store: Store, tmp_path: Path
) -> None:
    records = [encode_record(CODE["traces"], spans([f"good-{i}"]), 1) for i in range(7)]
    records.insert(2, encode_record(CODE["traces"], _oneof_poison(b"bad-a"), 1))
    records.insert(6, encode_record(CODE["traces"], _oneof_poison(b"bad-b"), 1))
    body = b"".join(records)
    spool = tmp_path / "spool"
    writer = _writer(store, spool)
    segment = spool / "000000000001-old.seg"
    segment.write_bytes(body)
    assert writer.write_segment(segment)
    expected = {f"good-{i}": 1 for i in range(7)}
    assert _names(store) == expected
    kept = sorted(p.name for p in writer.quarantine.directory.glob("*.pb"))
    assert kept == [
        "000000000001-old-000002-otel_traces.s1.pb",
        "000000000001-old-000006-otel_traces.s1.pb",
    ]
    # The process died before the segment went: the next one replays it, halving alike.
    segment.write_bytes(body)
    again = _writer(store, spool)
    assert again.write_segment(segment)
    assert _names(store) == expected
    assert len(list(again.quarantine.directory.glob("*.pb"))) == 2


def test_the_python_decoder_path_quarantines_alone_too(store: Store, tmp_path: Path) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    req = ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    m.gauge.data_points.add(time_unix_nano=1 << 63, as_double=1.0)  # past DateTime64(9)
    spool = tmp_path / "spool"
    writer = _writer(store, spool, native=False)
    segment = spool / "000000000001-old.seg"
    segment.write_bytes(
        encode_record(CODE["traces"], spans(["a"]), 1)
        + encode_record(CODE["metrics"], req.SerializeToString(), 1)
        + encode_record(CODE["traces"], spans(["b"]), 1)
    )
    assert writer.write_segment(segment)
    assert _names(store) == {"a": 1, "b": 1}
    assert [p.name for p in writer.quarantine.directory.glob("*.pb")] == [
        "000000000001-old-000001-otel_metrics_gauge.s2.pb"
    ]


def test_a_store_that_is_down_is_waited_for_not_quarantined_and_shutdown_does_not_spin(
    store: Store, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    writer = SpoolWriter(Spool(spool), store, IngestMetrics(), drain_timeout_s=2.0)
    (spool).mkdir()
    (spool / "000000000001-old.seg").write_bytes(encode_record(CODE["traces"], spans(["x"]), 1))
    store.close()  # every insert now fails, for a reason that is not the data's

    async def run() -> None:
        await writer.start()
        await asyncio.sleep(1.0)
        await writer.stop()

    asyncio.run(run())
    assert (spool / "000000000001-old.seg").exists()  # kept for the next start
    assert not writer.quarantine.directory.exists()
    attempts = writer.metrics.value("tailsight_ingest_insert_errors_total", table="otel_traces")
    assert 1 <= attempts <= 8  # backoff, also while draining (it spun 5,093 times in 10 s)
    assert any("the store refuses inserts" in p for p in writer.problems())


def test_what_counts_as_permanent() -> None:
    assert is_permanent(StoreError("Code: 444. DB::Exception: Protobuf messages are corrupted"))
    assert is_permanent(StoreError("Code: 252. Too many partitions for single INSERT block"))
    assert not is_permanent(StoreError("Code: 252. Too many parts (300). Merges are slower"))
    assert not is_permanent(StoreError("Code: 241. Memory limit exceeded"))
    assert not is_permanent(StoreError("the store is closed"))
    assert not is_permanent(ConnectionRefusedError(111, "refused"))
    try:
        try:
            struct.pack("<q", 1 << 63)
        except struct.error as exc:
            raise StoreError("insert failed: Unable to create native array") from exc
    except StoreError as wrapped:
        assert is_permanent(wrapped)


def test_an_attribute_key_of_the_wrong_wire_type_is_stored_alike_on_every_path(
    store: Store, tmp_path: Path
) -> None:
    # key sent as a varint: upb drops it (an unknown field); the fallback kept raw bytes
    kv = field(9, 2, field(1, 0, b"\x07") + field(2, 2, field(1, 2, b"v")))
    payload, items, _, _ = admit(SIGNAL["traces"], raw_span_request(b"k", kv), False)
    spool = tmp_path / "spool"
    for n, native in enumerate((True, False), start=1):
        segment = spool / f"{n:012d}-x.seg"
        spool.mkdir(exist_ok=True)
        segment.write_bytes(encode_record(CODE["traces"], payload, items))
        assert _writer(store, spool, native).write_segment(segment)
    rows = store.rows("SELECT SpanAttributes FROM otel_traces")
    assert [dict(r[0]) for r in rows] == [{"": "v"}, {"": "v"}]


def test_a_quarantined_request_can_be_inspected(store: Store, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    writer = _writer(store, spool)
    segment = spool / "000000000009-old.seg"
    poison = _oneof_poison(b"bad")
    segment.write_bytes(encode_record(CODE["traces"], poison, 1))
    assert writer.write_segment(segment)
    [pb] = writer.quarantine.directory.glob("*.pb")
    assert pb.read_bytes() == poison  # the request as acknowledged
    reason = pb.with_name(pb.name.replace(".s1.pb", ".error.txt")).read_text()
    assert reason.startswith("otel_traces: ") and "Code:" in reason
    shutil.rmtree(writer.quarantine.directory)
    assert writer.problems() == []  # cleared once an operator has dealt with it
