"""The parts the writer inserts: compact, without bloom filters; the merges that follow build them."""

from __future__ import annotations

from pathlib import Path

from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.spool import Spool, encode_record
from tailsight.pipeline.writer import SpoolWriter
from tailsight.storage import Store
from tailsight.storage.migrations.m0006_compact_inserts import WIDE_PART_BYTES
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


def test_a_segment_past_the_engines_wide_threshold_is_one_compact_part(
    store: Store, tmp_path: Path
) -> None:
    [(default,)] = store.rows(
        "SELECT toUInt64(value) FROM system.merge_tree_settings WHERE name = 'min_bytes_for_wide_part'"
    )
    request = span_request(3000, seed=3)
    for i, span in enumerate(
        s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
    ):
        attribute = span.attributes.add(key="payload")
        attribute.value.string_value = f"{i:08d}" * 500  # 4 KB a span, 12 MB in all
    writer = SpoolWriter(Spool(tmp_path), store, IngestMetrics())
    writer.spool.recover()
    segment = tmp_path / "000000000001-x.seg"
    segment.write_bytes(encode_record(1, request.SerializeToString(), 3000))
    assert writer.write_segment(segment)

    [(part_type, rows, size)] = store.rows(
        "SELECT part_type, rows, data_uncompressed_bytes FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'otel_traces' AND active"
    )
    assert (part_type, rows) == ("Compact", 3000)
    assert default < size < WIDE_PART_BYTES  # wide under the engine's default
