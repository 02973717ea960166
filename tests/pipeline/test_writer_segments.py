"""The writer reads sealed segments through a memory mapping and lets go of it afterwards."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.signals import SIGNALS
from tailsight.pipeline.spool import Spool, encode_record, segment_records
from tailsight.pipeline.writer import SpoolWriter
from tailsight.storage import Store
from tests.pipeline.otlp_data import span_request

CODE = {s.name: s.code for s in SIGNALS}


def _mapped(path: Path) -> bool:
    return str(path) in Path("/proc/self/maps").read_text()


def _writer(store: Store, spool_dir: Path) -> SpoolWriter:
    writer = SpoolWriter(Spool(spool_dir), store, IngestMetrics())
    writer.spool.recover()
    return writer


def test_a_written_segment_is_unmapped_and_removed(store: Store, tmp_path: Path) -> None:
    writer = _writer(store, tmp_path)
    segment = tmp_path / "000000000001-x.seg"
    bodies = [span_request(50, seed=n).SerializeToString() for n in (1, 2)]
    segment.write_bytes(b"".join(encode_record(CODE["traces"], b, 50) for b in bodies))
    with segment_records(segment) as records:
        assert [bytes(r.payload) for r in records] == bodies
        assert _mapped(segment)
        del records  # the views go with the records: the mapping is closed on the way out
    assert not _mapped(segment)
    assert writer.write_segment(segment)
    assert not segment.exists() and not _mapped(segment)
    assert store.rows("SELECT count() FROM otel_traces")[0][0] == 100


def test_a_request_that_cannot_be_decoded_is_quarantined_alone(
    store: Store, tmp_path: Path
) -> None:
    writer = _writer(store, tmp_path)
    segment = tmp_path / "000000000002-x.seg"
    good = span_request(10).SerializeToString()
    # a whole record (its CRC matches) whose payload is no metrics request
    segment.write_bytes(
        encode_record(CODE["traces"], good, 10) + encode_record(CODE["metrics"], b"\xff\xff", 1)
    )
    assert writer.write_segment(segment)
    assert not segment.exists()
    assert store.rows("SELECT count() FROM otel_traces")[0][0] == 10  # the other request
    [kept] = writer.quarantine.directory.glob("*.pb")
    assert kept.read_bytes() == b"\xff\xff"
    assert (
        writer.metrics.value("tailsight_ingest_quarantined_requests_total", signal="metrics") == 1
    )
    assert "1 acknowledged request(s)" in writer.problems()[0]


def test_an_empty_segment_writes_nothing(store: Store, tmp_path: Path) -> None:
    writer = _writer(store, tmp_path)
    segment = tmp_path / "000000000003-x.seg"
    segment.write_bytes(b"")
    assert writer.write_segment(segment)
    assert not segment.exists()


def _sealed_by(spool: Spool) -> Path:
    """A segment ``spool`` appended one request to and sealed."""
    before = set(spool.sealed())

    async def append_and_seal() -> None:
        await spool.append(CODE["traces"], span_request(5).SerializeToString(), 5)
        await spool.seal()

    asyncio.run(append_and_seal())
    [sealed] = set(spool.sealed()) - before
    return sealed


def test_segments_sealed_by_this_spool_are_its_own(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.recover()
    sealed = _sealed_by(spool)
    assert spool.wrote(sealed)
    later = Spool(tmp_path)  # the next run of the process
    later.recover()
    assert later.sealed() == [sealed] and not later.wrote(sealed)


def test_a_segment_from_an_earlier_run_has_its_records_checked(
    store: Store, tmp_path: Path
) -> None:
    writer = _writer(store, tmp_path)
    first, second = (span_request(20, seed=n).SerializeToString() for n in (1, 2))
    damaged = bytearray(encode_record(CODE["traces"], second, 20))
    damaged[-40] ^= 0x01  # a flipped bit in a string value: still a valid request
    data = encode_record(CODE["traces"], first, 20) + bytes(damaged)
    earlier = tmp_path / "000000000004-0ld0b007.seg"
    earlier.write_bytes(data)
    assert not writer.spool.wrote(earlier)
    assert writer.write_segment(earlier)
    assert store.rows("SELECT count() FROM otel_traces")[0][0] == 20  # stops at the damage

    # The same bytes sealed by this process are trusted: its CRCs were taken on append.
    own = _sealed_by(writer.spool)
    own.write_bytes(data)
    assert writer.spool.wrote(own)
    assert writer.write_segment(own)
    assert store.rows("SELECT count() FROM otel_traces")[0][0] == 60


def test_a_short_write_is_finished_record_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel may write part of a writev (a disk filling up): the rest follows in order.
    # os.writev is replaced at the system-call boundary by one that stops after 10 bytes.
    real_writev = os.writev

    def short_writev(fd: int, buffers: Sequence[bytes]) -> int:
        return os.write(fd, b"".join(buffers)[:10])

    bodies = [span_request(5, seed=n).SerializeToString() for n in (1, 2)]
    spool = Spool(tmp_path)
    spool.recover()

    async def append_both() -> None:
        monkeypatch.setattr(os, "writev", short_writev)
        await spool.append(CODE["traces"], bodies[0], 5)
        monkeypatch.setattr(os, "writev", real_writev)
        await spool.append(CODE["traces"], bodies[1], 5)
        await spool.close()

    asyncio.run(append_both())
    [sealed] = spool.sealed()
    with segment_records(sealed) as records:
        assert [bytes(r.payload) for r in records] == bodies
        del records
