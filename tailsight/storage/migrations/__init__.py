"""The schema as numbered migrations, applied at start-up and by ``tailsight migrate``.

Each migration is a module ``mNNNN_name.py`` with a list ``OBJECTS`` of schema objects.
Applied versions are recorded in ``tailsight_schema_migrations``; every statement is
``IF NOT EXISTS``, so a migration interrupted half-way is simply run again. A change of
the configured TTL is applied to existing tables with ``ALTER TABLE … MODIFY TTL``.
A new migration is a new module appended to ``MIGRATIONS``; applied ones never change.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType

from tailsight.storage.ddl import SchemaObject, Table, Target
from tailsight.storage.migrations import (
    m0001_otel_exporter,
    m0002_incidents,
    m0003_ingest_dedup,
    m0004_rollups,
    m0005_trace_id_ts_view,
    m0006_compact_inserts,
    m0007_slo_rollup,
    m0008_leases,
    m0009_llm_latency,
    m0011_dashboard_rollups,
    m0012_report_gpu_hours,
    m0013_alerts,
    m0014_incident_scopes,
    m0015_hourly_rollups,
)
from tailsight.storage.store import Store

log = logging.getLogger(__name__)

VERSIONS_TABLE = Table(
    name="tailsight_schema_migrations",
    body="""
Version UInt32,
Name String,
Checksum String,
AppliedAt DateTime64(3, 'UTC')
""",
    engine="ReplacingMergeTree(AppliedAt)",
    order_by="(Version)",
)


@dataclass(frozen=True)
class Migration:
    """One numbered step of the schema."""

    version: int
    name: str
    objects: tuple[SchemaObject, ...] = field(repr=False)

    def render(self, target: Target) -> list[str]:
        return [sql for obj in self.objects for sql in obj.render(target)]

    @property
    def checksum(self) -> str:
        # Rendered without TTL or cluster: the checksum names the schema, not the deployment.
        text = "\n".join(self.render(Target(database="db")))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _migration(version: int, module: ModuleType) -> Migration:
    name = module.__name__.rsplit(".", 1)[-1].split("_", 1)[1]
    return Migration(version, name, tuple(module.OBJECTS))


MIGRATIONS: tuple[Migration, ...] = (
    _migration(1, m0001_otel_exporter),
    _migration(2, m0002_incidents),
    _migration(3, m0003_ingest_dedup),
    _migration(4, m0004_rollups),
    _migration(5, m0005_trace_id_ts_view),
    _migration(6, m0006_compact_inserts),
    _migration(7, m0007_slo_rollup),
    _migration(8, m0008_leases),
    _migration(9, m0009_llm_latency),
    _migration(11, m0011_dashboard_rollups),
    _migration(12, m0012_report_gpu_hours),
    _migration(13, m0013_alerts),
    _migration(14, m0014_incident_scopes),
    _migration(15, m0015_hourly_rollups),
)


def tables_with_ttl() -> list[Table]:
    return [o for m in MIGRATIONS for o in m.objects if isinstance(o, Table) and o.ttl]


def render_schema(target: Target) -> list[str]:
    """Every statement of the whole schema for ``target``, in order: what ``migrate`` runs."""
    return VERSIONS_TABLE.render(target) + [sql for m in MIGRATIONS for sql in m.render(target)]


@dataclass(frozen=True)
class MigrationReport:
    """What ``migrate`` did."""

    applied: tuple[int, ...]
    current_version: int
    ttl_changed: bool


def applied_versions(store: Store) -> dict[int, str]:
    """Applied migration versions and their checksums."""
    rows = store.rows(
        "SELECT Version, argMax(Checksum, AppliedAt) FROM tailsight_schema_migrations GROUP BY Version"
    )
    return {int(v): str(c) for v, c in rows}


def migrate(store: Store, ttl_days: int = 0) -> MigrationReport:
    """Bring the store's schema to the newest version; safe to run any number of times."""
    target = Target(database=store.database, cluster=store.cluster, ttl_days=ttl_days)
    for sql in VERSIONS_TABLE.render(target):
        store.command(sql)
    done = applied_versions(store)
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                log.warning(
                    "migration %04d_%s differs from the one applied; applied migrations never change",
                    migration.version,
                    migration.name,
                )
            continue
        started = time.monotonic()
        for sql in migration.render(target):
            store.command(sql)
        store.insert(
            "tailsight_schema_migrations",
            [(migration.version, migration.name, migration.checksum, datetime.now(UTC))],
            ["Version", "Name", "Checksum", "AppliedAt"],
        )
        applied.append(migration.version)
        log.info(
            "applied migration %04d_%s in %.2fs",
            migration.version,
            migration.name,
            time.monotonic() - started,
        )
    ttl_changed = _apply_ttl(store, target, fresh=bool(applied) and not done)
    return MigrationReport(tuple(applied), MIGRATIONS[-1].version, ttl_changed)


def _apply_ttl(store: Store, target: Target, *, fresh: bool) -> bool:
    """Record the TTL in force and alter the tables when the configured one differs."""
    rows = store.rows(
        "SELECT argMax(Value, UpdatedAt) FROM tailsight_state "
        "WHERE Scope = 'schema' AND Key = 'ttl_days'"
    )
    previous = rows[0][0] if rows and rows[0][0] != "" else None
    wanted = str(int(target.ttl_days))
    if previous == wanted:
        return False
    if not fresh:
        for table in tables_with_ttl():
            sql = table.ttl_statement(target)
            if sql:
                store.command(sql)
    store.insert(
        "tailsight_state",
        [("schema", "ttl_days", wanted, datetime.now(UTC))],
        ["Scope", "Key", "Value", "UpdatedAt"],
    )
    return previous is not None
