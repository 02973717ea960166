"""Insert deduplication for the exporter tables, so the ingest writer's retries never double rows.

The writer inserts each spool segment with an ``insert_deduplication_token`` naming the
segment and table; a retry after a crash or a store error carries the same token and
ClickHouse drops the repeat. Replicated tables (cluster mode) deduplicate by default;
plain MergeTree tables only keep the tokens of their last
``non_replicated_deduplication_window`` inserts, which this migration turns on.
"""

from __future__ import annotations

from tailsight.storage.ddl import SchemaObject, Statement

DEDUP_TABLES = (
    "otel_traces",
    "otel_metrics_gauge",
    "otel_metrics_sum",
    "otel_metrics_histogram",
    "otel_metrics_exponential_histogram",
    "otel_metrics_summary",
    "otel_logs",
)

# A retry follows its first attempt within a few inserts; 10000 leaves ample room.
WINDOW = 10000

OBJECTS: list[SchemaObject] = [
    Statement(
        f"ALTER TABLE {{db}}.{{local:{table}}}{{on_cluster}} "
        f"MODIFY SETTING non_replicated_deduplication_window = {WINDOW}"
    )
    for table in DEDUP_TABLES
]
