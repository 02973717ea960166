"""The schema on the real embedded engine, and the rendered cluster DDL for every table."""

from __future__ import annotations

import re

import pytest

from tailsight.storage import Store
from tailsight.storage.ddl import MaterializedView, Table, Target
from tailsight.storage.migrations import (
    MIGRATIONS,
    Migration,
    applied_versions,
    migrate,
    render_schema,
)
from tests.timebase import recent_noon

# The OpenTelemetry Collector ClickHouse exporter's columns, as its tables define them.
EXPORTER_COLUMNS = {
    "otel_traces": [
        "Timestamp",
        "TraceId",
        "SpanId",
        "ParentSpanId",
        "TraceState",
        "SpanName",
        "SpanKind",
        "ServiceName",
        "ResourceAttributes",
        "ScopeName",
        "ScopeVersion",
        "SpanAttributes",
        "Duration",
        "StatusCode",
        "StatusMessage",
        "Events.Timestamp",
        "Events.Name",
        "Events.Attributes",
        "Links.TraceId",
        "Links.SpanId",
        "Links.TraceState",
        "Links.Attributes",
    ],
    "otel_traces_trace_id_ts": ["TraceId", "Start", "End"],
    "otel_metrics_gauge": [
        "ResourceAttributes",
        "ResourceSchemaUrl",
        "ScopeName",
        "ScopeVersion",
        "ScopeAttributes",
        "ScopeDroppedAttrCount",
        "ScopeSchemaUrl",
        "ServiceName",
        "MetricName",
        "MetricDescription",
        "MetricUnit",
        "Attributes",
        "StartTimeUnix",
        "TimeUnix",
        "Value",
        "Flags",
        "Exemplars.FilteredAttributes",
        "Exemplars.TimeUnix",
        "Exemplars.Value",
        "Exemplars.SpanId",
        "Exemplars.TraceId",
    ],
    "otel_metrics_sum": ["Value", "AggregationTemporality", "IsMonotonic", "Exemplars.TraceId"],
    "otel_metrics_histogram": [
        "Count",
        "Sum",
        "BucketCounts",
        "ExplicitBounds",
        "Min",
        "Max",
        "AggregationTemporality",
    ],
    "otel_metrics_exponential_histogram": [
        "Count",
        "Sum",
        "Scale",
        "ZeroCount",
        "PositiveOffset",
        "PositiveBucketCounts",
        "NegativeOffset",
        "NegativeBucketCounts",
        "Min",
        "Max",
        "AggregationTemporality",
    ],
    "otel_metrics_summary": ["Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value"],
    "otel_logs": [
        "Timestamp",
        "TimestampTime",
        "TraceId",
        "SpanId",
        "TraceFlags",
        "SeverityText",
        "SeverityNumber",
        "ServiceName",
        "Body",
        "ResourceSchemaUrl",
        "ResourceAttributes",
        "ScopeSchemaUrl",
        "ScopeName",
        "ScopeVersion",
        "ScopeAttributes",
        "LogAttributes",
    ],
}


def _columns(store: Store, table: str) -> dict[str, str]:
    rows = store.rows(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}",
        {"db": store.database, "t": table},
    )
    return {name: typ for name, typ in rows}


@pytest.mark.parametrize("table", sorted(EXPORTER_COLUMNS))
def test_exporter_tables_have_exporter_columns(store: Store, table: str) -> None:
    columns = _columns(store, table)
    missing = [c for c in EXPORTER_COLUMNS[table] if c not in columns]
    assert not missing, f"{table} lacks {missing}"


def test_exporter_types(store: Store) -> None:
    traces = _columns(store, "otel_traces")
    assert traces["Timestamp"] == "DateTime64(9)"
    assert traces["Duration"] == "UInt64"
    assert traces["ResourceAttributes"] == "Map(LowCardinality(String), String)"
    assert traces["Events.Timestamp"] == "Array(DateTime64(9))"
    gauge = _columns(store, "otel_metrics_gauge")
    assert gauge["Value"] == "Float64" and gauge["TimeUnix"] == "DateTime64(9)"
    assert _columns(store, "otel_metrics_sum")["IsMonotonic"] == "Bool"


def test_tables_are_partitioned_by_day_with_ttl(store: Store) -> None:
    rows = store.rows(
        "SELECT name, partition_key, create_table_query FROM system.tables "
        "WHERE database = {db:String} AND name LIKE 'otel_%' AND engine LIKE '%MergeTree'",
        {"db": store.database},
    )
    assert len(rows) == 8
    for name, partition_key, ddl in rows:
        if name != "otel_traces_trace_id_ts":
            assert partition_key.startswith("toDate("), name
        assert "toIntervalDay(30)" in ddl, name


def test_trace_id_lookup_view_fills(store: Store) -> None:
    store.command(
        "INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ServiceName, Duration) VALUES "
        "({t0:DateTime}, 'abc', 's1', 'svc', 5), ({t0:DateTime} + 7, 'abc', 's2', 'svc', 5)",
        {"t0": int(recent_noon())},
    )
    rows = store.rows(
        "SELECT TraceId, min(Start), max(End) FROM otel_traces_trace_id_ts GROUP BY TraceId"
    )
    assert [(r[0], r[1].second, r[2].second) for r in rows] == [("abc", 0, 7)]


def test_trace_id_view_keeps_one_row_per_trace_and_insert(store: Store) -> None:
    # What the exporter's GROUP BY TraceId gave: one row per trace in each insert's part,
    # its first and last second; across inserts the table's merges (or min/max) combine.
    store.command("SYSTEM STOP MERGES otel_traces_trace_id_ts")
    for first in (0, 30):
        store.command(
            "INSERT INTO otel_traces (Timestamp, TraceId, SpanId) SELECT"
            " toDateTime64({t0:DateTime}, 9) + toIntervalSecond({first:UInt32} + number),"
            " 't' || toString(number % 3), toString(number) FROM numbers(12)",
            {"first": first, "t0": int(recent_noon())},
        )
    parts = store.rows(
        "SELECT TraceId, Start, End FROM otel_traces_trace_id_ts ORDER BY TraceId, Start"
    )
    assert [(t, s.second, e.second) for t, s, e in parts] == [
        ("t0", 0, 9),
        ("t0", 30, 39),
        ("t1", 1, 10),
        ("t1", 31, 40),
        ("t2", 2, 11),
        ("t2", 32, 41),
    ]
    store.command("SYSTEM START MERGES otel_traces_trace_id_ts")
    store.command("OPTIMIZE TABLE otel_traces_trace_id_ts FINAL")
    merged = store.rows("SELECT TraceId, Start, End FROM otel_traces_trace_id_ts ORDER BY TraceId")
    assert [(t, s.second, e.second) for t, s, e in merged] == [
        ("t0", 0, 39),
        ("t1", 1, 40),
        ("t2", 2, 41),
    ]


def test_migrations_are_idempotent_and_versioned(store: Store) -> None:
    def snapshot() -> list[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in store.rows(
                "SELECT name, create_table_query FROM system.tables "
                "WHERE database = {db:String} ORDER BY name",
                {"db": store.database},
            )
        ]

    before = snapshot()
    report = migrate(store, ttl_days=30)
    assert report.applied == () and not report.ttl_changed
    assert snapshot() == before
    assert sorted(applied_versions(store)) == [m.version for m in MIGRATIONS]
    assert store.rows("SELECT count() FROM tailsight_schema_migrations")[0][0] == len(MIGRATIONS)


def test_ttl_change_alters_tables(store: Store) -> None:
    report = migrate(store, ttl_days=7)
    assert report.ttl_changed
    ddl = store.rows(
        "SELECT create_table_query FROM system.tables WHERE database = {db:String} "
        "AND name = 'otel_traces'",
        {"db": store.database},
    )[0][0]
    assert "toIntervalDay(7)" in ddl
    assert not migrate(store, ttl_days=7).ttl_changed


def _all_tables() -> list[Table]:
    return [o for m in MIGRATIONS for o in m.objects if isinstance(o, Table)]


@pytest.mark.parametrize("table", _all_tables(), ids=lambda t: t.name)
def test_cluster_ddl_for_every_table(table: Table) -> None:
    stmts = table.render(Target("otel", cluster="fleet", ttl_days=14))
    local, dist = stmts
    assert local.startswith(
        f"CREATE TABLE IF NOT EXISTS otel.{table.name}_local ON CLUSTER fleet ("
    )
    engine = re.search(r"ENGINE = (\w+)\('([^']+)', '\{replica\}'", local)
    assert engine, local
    assert engine.group(1).startswith("Replicated") and engine.group(1).endswith("MergeTree")
    assert engine.group(2) == f"/clickhouse/tables/{{shard}}/otel/{table.name}_local"
    if table.ttl:
        assert "+ toIntervalDay(14)" in local
    assert dist.startswith(
        f"CREATE TABLE IF NOT EXISTS otel.{table.name} ON CLUSTER fleet AS otel.{table.name}_local"
    )
    assert f"ENGINE = Distributed(fleet, otel, {table.name}_local, " in dist


def test_cluster_ddl_keeps_engine_arguments() -> None:
    incidents = next(t for t in _all_tables() if t.name == "tailsight_incidents")
    local = incidents.render(Target("otel", cluster="c"))[0]
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/otel/tailsight_incidents_local', "
        "'{replica}', UpdatedAt, Deleted)" in local
    )


def test_cluster_views_read_and_write_local_tables() -> None:
    views = [o for m in MIGRATIONS for o in m.objects if isinstance(o, MaterializedView)]
    assert views
    for view in views:
        (sql,) = view.render(Target("otel", cluster="c"))
        assert " ON CLUSTER c" in sql
        assert f"TO otel.{view.target}_local" in sql
        assert f"FROM otel.{view.source}_local" in sql


def test_single_node_schema_has_no_cluster_words() -> None:
    text = "\n".join(render_schema(Target("otel")))
    assert "ON CLUSTER" not in text and "Replicated" not in text and "Distributed" not in text


def _printed_cluster_ddl(capsys: pytest.CaptureFixture[str]) -> list[str]:
    from tailsight.cli import main

    assert main(["migrate", "--print", "--cluster", "fleet", "--ttl-days", "14"]) == 0
    out = capsys.readouterr().out
    assert out.endswith(";\n")
    return [s.strip() for s in out.strip().removesuffix(";").split(";\n\n")]


@pytest.mark.parametrize("migration", MIGRATIONS, ids=lambda m: f"{m.version:04d}_{m.name}")
def test_migrate_print_cluster_renders_every_migration(
    migration: Migration, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tailsight migrate --print --cluster NAME``: each statement of each migration, for a cluster."""
    printed = _printed_cluster_ddl(capsys)
    mine = migration.render(Target("otel", cluster="fleet", ttl_days=14))
    assert mine, f"migration {migration.version} renders nothing"
    n = len(mine)  # printed whole and in order, as migrate applies them
    assert any(printed[i : i + n] == mine for i in range(len(printed) - n + 1))
    for sql in mine:
        if sql.startswith("INSERT INTO"):
            # A copy of existing rows runs once, through the Distributed tables: each row once.
            assert " ON CLUSTER" not in sql and "_local" not in sql, sql
            continue
        assert " ON CLUSTER fleet" in sql.splitlines()[0], sql
        for engine in re.findall(r"ENGINE = (\w+)", sql):
            assert engine.startswith("Replicated") or engine == "Distributed", sql
        # Statements on a table act on each node's local table, never on the Distributed one.
        for name in re.findall(r"^ALTER TABLE otel\.(\w+)", sql):
            assert name.endswith("_local"), sql
        if "MATERIALIZED VIEW" in sql:
            assert re.search(r"\bTO otel\.\w+_local\b", sql), sql
            assert not re.search(r"FROM otel\.(?!\w+_local\b)\w+", sql), sql
    for obj in migration.objects:
        if isinstance(obj, Table):
            local = f"CREATE TABLE IF NOT EXISTS otel.{obj.name}_local ON CLUSTER fleet ("
            assert any(s.startswith(local) for s in mine), obj.name
            assert any(
                f"ENGINE = Distributed(fleet, otel, {obj.name}_local, {obj.shard_key})" in s
                for s in mine
            ), obj.name


def test_migrate_print_cluster_covers_the_whole_schema(capsys: pytest.CaptureFixture[str]) -> None:
    printed = _printed_cluster_ddl(capsys)
    assert printed == render_schema(Target("otel", cluster="fleet", ttl_days=14))
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions))
