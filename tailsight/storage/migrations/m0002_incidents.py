"""tailsight's own tables: incidents with their ranked causes and evidence, and analysis state.

An incident's id is derived from its service, operation and onset, so re-analysing a
range writes the same ids again; ``ReplacingMergeTree(UpdatedAt, Deleted)`` keeps the
newest version of each, and a re-analysis tombstones (``Deleted = 1``) the incidents of
its range that it no longer finds. Readers use ``FINAL``.
"""

from __future__ import annotations

from tailsight.storage.ddl import SchemaObject, Table

INCIDENTS = Table(
    name="tailsight_incidents",
    body="""
Id String,
Service LowCardinality(String),
Operation String,
Start DateTime64(3, 'UTC'),
End Nullable(DateTime64(3, 'UTC')),
P99Ms Float64,
BaselineP99Ms Float64,
RequestCount UInt64,
Causes Nested (
    Kind LowCardinality(String),
    Score Float64,
    Service LowCardinality(String),
    EntityType LowCardinality(String),
    EntityId String,
    Summary String,
    Evidence String
),
Source LowCardinality(String),
UpdatedAt DateTime64(6, 'UTC'),
Deleted UInt8 DEFAULT 0
""",
    engine="ReplacingMergeTree(UpdatedAt, Deleted)",
    order_by="(Id)",
    shard_key="cityHash64(Id)",
)

STATE = Table(
    name="tailsight_state",
    body="""
Scope LowCardinality(String),
Key String,
Value String,
UpdatedAt DateTime64(6, 'UTC')
""",
    engine="ReplacingMergeTree(UpdatedAt)",
    order_by="(Scope, Key)",
    shard_key="cityHash64(Scope, Key)",
)

OBJECTS: list[SchemaObject] = [INCIDENTS, STATE]
