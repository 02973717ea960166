"""Alert state, delivery history and silences (CONTRACT §7), so a restart neither re-pages nor forgets.

One row per alert *episode*: a fingerprint (the hash of the alert's identifying labels)
fires at ``StartsAt`` and is resolved once; a later firing of the same fingerprint is a
new episode. ``ReplacingMergeTree(UpdatedAt)`` keeps each episode's newest version;
readers use ``FINAL``. Every delivery attempt is a row of its own, so what was sent to
which notifier is history, not state that a crash could lose half-way.
"""

from __future__ import annotations

from tailsight.storage.ddl import SchemaObject, Table

ALERTS = Table(
    name="tailsight_alerts",
    body="""
Fingerprint String,
StartsAt DateTime64(3, 'UTC'),
Kind LowCardinality(String),
Name String,
Severity LowCardinality(String),
Service LowCardinality(String),
Slo String,
State LowCardinality(String),
EndsAt Nullable(DateTime64(3, 'UTC')),
LastActiveAt DateTime64(3, 'UTC'),
Summary String,
Description String,
RootCause String,
Incidents Array(String),
Url String,
Acknowledged UInt8,
AcknowledgedBy String,
UpdatedAt DateTime64(6, 'UTC')
""",
    engine="ReplacingMergeTree(UpdatedAt)",
    order_by="(Fingerprint, StartsAt)",
    shard_key="cityHash64(Fingerprint)",
)

DELIVERIES = Table(
    name="tailsight_alert_deliveries",
    body="""
Fingerprint String,
StartsAt DateTime64(3, 'UTC'),
Notifier LowCardinality(String),
State LowCardinality(String),
At DateTime64(3, 'UTC'),
Ok UInt8,
Error String,
Attempt UInt16,
Culprit String
""",
    order_by="(Fingerprint, StartsAt, At)",
    shard_key="cityHash64(Fingerprint)",
)

SILENCES = Table(
    name="tailsight_silences",
    body="""
Id String,
Matchers String,
StartsAt DateTime64(3, 'UTC'),
EndsAt DateTime64(3, 'UTC'),
CreatedBy String,
Comment String,
UpdatedAt DateTime64(6, 'UTC')
""",
    engine="ReplacingMergeTree(UpdatedAt)",
    order_by="(Id)",
    shard_key="cityHash64(Id)",
)

OBJECTS: list[SchemaObject] = [ALERTS, DELIVERIES, SILENCES]
