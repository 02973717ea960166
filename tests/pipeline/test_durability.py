"""Acknowledged means durable: ``kill -9`` mid-stream loses nothing and replays without duplicates."""

from __future__ import annotations

import http.client
import shutil
import signal
import threading
import time
import urllib.request
from pathlib import Path

import clickhouse_connect
import pytest

from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.spool import Spool
from tailsight.pipeline.writer import SpoolWriter
from tailsight.storage import Store
from tests.conftest import UpProcess
from tests.pipeline.otlp_data import span_request

pytestmark = pytest.mark.integration

SPANS_PER_REQUEST = 25


def _sender(port: int, first: int, count: int, acked: list[str], stop: threading.Event) -> None:
    """Send ``count`` requests (bounded), recording the span names of each one answered 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for i in range(first, first + count):
        if stop.is_set():
            return
        names = [f"r{i}-s{j}" for j in range(SPANS_PER_REQUEST)]
        body = span_request(SPANS_PER_REQUEST, seed=i, names=names).SerializeToString()
        try:
            conn.request(
                "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
            )
            response = conn.getresponse()
            response.read()
        except OSError:
            return  # the server was killed
        if response.status == 200:
            acked.extend(names)


def test_kill_9_mid_stream_then_restart_keeps_every_acknowledged_span_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = UpProcess(data)
    acked: list[str] = []
    stop = threading.Event()
    try:
        first.wait_healthy(30)
        senders = [
            threading.Thread(
                target=_sender, args=(first.otlp_http_port, k * 10_000, 400, acked, stop)
            )
            for k in range(3)
        ]
        for t in senders:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 60 * SPANS_PER_REQUEST and time.monotonic() < deadline:
            time.sleep(0.02)
        first.proc.send_signal(signal.SIGKILL)  # while requests are in flight
        first.proc.wait(10)
        for t in senders:
            t.join(10)
    finally:
        stop.set()
        first.stop()
    assert len(acked) >= 60 * SPANS_PER_REQUEST
    second = UpProcess(data)
    try:
        second.wait_healthy(30)  # the writer replays the spool as it starts
        with urllib.request.urlopen(second.api + "/metrics", timeout=5) as r:
            assert "tailsight_ingest_spool_bytes" in r.read().decode()
    finally:
        assert second.stop() == 0, second.output()  # SIGTERM drains the spool
    log = second.output()
    client = clickhouse_connect.get_client(dsn=f"chdb://{data}", database="otel")
    try:
        counts = dict(
            client.query("SELECT SpanName, count() FROM otel_traces GROUP BY SpanName").result_rows
        )
    finally:
        client.close()
    missing = [n for n in acked if n not in counts]
    assert not missing, f"{len(missing)} acknowledged spans lost, e.g. {missing[:3]}"
    doubled = {n: c for n, c in counts.items() if c != 1}
    assert not doubled, f"spans stored more than once: {list(doubled.items())[:3]}"
    print(f"acknowledged {len(acked)}, stored {len(counts)}, replay: {'replaying' in log}")


def test_replaying_a_segment_already_inserted_adds_no_rows(store: Store, tmp_path: Path) -> None:
    """The crash window between insert and delete: the same segment written twice counts once."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    spool = Spool(spool_dir)
    spool.recover()
    from tailsight.pipeline.spool import encode_record

    segment = spool_dir / "000000000001-test.seg"
    segment.write_bytes(
        b"".join(
            encode_record(1, span_request(40, seed=s).SerializeToString(), 40) for s in range(3)
        )
    )
    kept = tmp_path / "kept.seg"
    shutil.copy(segment, kept)
    writer = SpoolWriter(spool, store, IngestMetrics())
    assert writer.write_segment(segment)
    assert not segment.exists()
    shutil.copy(kept, segment)  # as if the process died before deleting it
    replay = SpoolWriter(Spool(spool_dir), store, IngestMetrics())
    assert replay.write_segment(segment)
    assert store.rows("SELECT count(), uniqExact(SpanId) FROM otel_traces")[0] == (120, 120)
