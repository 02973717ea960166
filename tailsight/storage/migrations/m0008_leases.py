"""Leases: which process runs the jobs that must run once (the analyzer role).

ClickHouse has no compare-and-swap, but it has insert deduplication: an insert whose
``insert_deduplication_token`` was already seen is dropped, atomically, by ClickHouse Keeper
on replicated tables and by the table's own block log on one node. A claim of term ``N``
carries the token ``lease:<name>:<N>``, so at most one claim of each term is ever stored;
the protocol (``storage/lease.py``, docs/leases.md) reads back after writing to learn
whether its claim was the one kept.

One row per claim. ``ReplacingMergeTree(Term)`` ordered by ``Name`` merges each lease's
history down to its newest term, so the table stays a few rows however often leases renew
(renewing is claiming the next term). ``ClaimedAt`` is the store's clock at the insert, so
every client measures expiry against one clock. In cluster mode all rows of a lease go to
one shard (``cityHash64(Name)``), where its replicas share one deduplication log.
"""

from __future__ import annotations

from tailsight.storage.ddl import SchemaObject, Table

# Tokens of this many recent claims are remembered (per shard); a claim older than that
# cannot conflict with a current one (the term has moved on; see docs/leases.md).
DEDUP_WINDOW = 10000

LEASES = Table(
    name="tailsight_leases",
    body="""
Name LowCardinality(String),
Term UInt64,
Holder String,
TtlMs UInt32,
ClaimedAt DateTime64(6, 'UTC') DEFAULT now64(6)
""",
    engine="ReplacingMergeTree(Term)",
    order_by="(Name)",
    settings=(
        f"index_granularity = 8192, non_replicated_deduplication_window = {DEDUP_WINDOW}, "
        f"replicated_deduplication_window = {DEDUP_WINDOW}, "
        "replicated_deduplication_window_seconds = 604800"
    ),
    shard_key="cityHash64(Name)",
)

OBJECTS: list[SchemaObject] = [LEASES]
