"""What an incident's spike is of when narrower than its service: one replica (issue 17).

``tailsight_incident_scopes`` names, per incident id, the scope (``replica``) and the
replica (``<host>/<pid>``) whose requests spiked while the service's p99 did not;
incidents without a row are of their whole service. A side table like
``tailsight_incident_slis`` (migration 9): the incidents table of a cluster is not altered.
"""

from __future__ import annotations

from tailsight.storage.ddl import SchemaObject, Table

INCIDENT_SCOPES = Table(
    name="tailsight_incident_scopes",
    body="""
Id String,
Scope LowCardinality(String),
Replica String,
UpdatedAt DateTime64(6, 'UTC')
""",
    engine="ReplacingMergeTree(UpdatedAt)",
    order_by="(Id)",
    shard_key="cityHash64(Id)",
)

OBJECTS: list[SchemaObject] = [INCIDENT_SCOPES]
