"""Inserted parts skip the bloom filters; the merge that follows builds them."""

from __future__ import annotations

from pathlib import Path

from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.spool import Spool, encode_record
from tailsight.pipeline.writer import SpoolWriter
from tailsight.storage import Store
from tests.pipeline.otlp_data import span_request

PARTS = """SELECT rows, secondary_indices_compressed_bytes FROM system.parts
WHERE database = currentDatabase() AND table = 'otel_traces' AND active ORDER BY name"""


def test_skip_indexes_are_built_by_merges_not_inserts(store: Store, tmp_path: Path) -> None:
    store.command("SYSTEM STOP MERGES otel_traces")
    writer = SpoolWriter(Spool(tmp_path), store, IngestMetrics())
    writer.spool.recover()
    for n in (1, 2):
        segment = tmp_path / f"00000000000{n}-x.seg"
        segment.write_bytes(encode_record(1, span_request(300, seed=n).SerializeToString(), 300))
        assert writer.write_segment(segment)
    assert store.has_setting("materialize_skip_indexes_on_insert")
    assert [tuple(r) for r in store.rows(PARTS)] == [(300, 0), (300, 0)]

    store.command("SYSTEM START MERGES otel_traces")
    store.command("OPTIMIZE TABLE otel_traces FINAL")
    [(rows, index_bytes)] = store.rows(PARTS)
    assert rows == 600 and index_bytes > 0
    trace_id = store.rows("SELECT TraceId FROM otel_traces ORDER BY TraceId LIMIT 1")[0][0]
    plan = "\n".join(
        r[0]
        for r in store.rows(
            "EXPLAIN indexes = 1 SELECT count() FROM otel_traces WHERE TraceId = {t:String}",
            {"t": trace_id},
        )
    )
    assert "idx_trace_id" in plan
    assert store.rows(
        "SELECT count() FROM otel_traces WHERE TraceId = {t:String}", {"t": trace_id}
    ) == [(1,)]


def test_a_setting_the_engine_lacks_is_reported_missing(store: Store) -> None:
    assert not store.has_setting("no_such_setting_anywhere")
