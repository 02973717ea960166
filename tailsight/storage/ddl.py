"""Schema objects and their DDL, rendered for one node or for a ClickHouse cluster.

On one node a :class:`Table` becomes one ``MergeTree``-family table. For a cluster it
becomes ``<name>_local`` on every node (``ON CLUSTER``, ``Replicated*MergeTree``) plus a
``Distributed`` table named ``<name>`` over them, so every query of the project reads
and writes the same names in both modes. Materialized views attach to the local tables
so that each shard aggregates its own rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def check_identifier(what: str, name: str) -> str:
    """``name`` if it is a plain ClickHouse identifier, else ``ValueError`` naming it."""
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"invalid {what} name {name!r}: use letters, digits and underscores, not starting with a digit"
        )
    return name


@dataclass(frozen=True)
class Target:
    """Where DDL is rendered for: the database, the cluster (or none) and the telemetry TTL."""

    database: str
    cluster: str | None = None
    ttl_days: int = 0

    def __post_init__(self) -> None:
        # Both are written into DDL as they are (identifiers cannot be bound parameters).
        check_identifier("database", self.database)
        if self.cluster is not None:
            check_identifier("cluster", self.cluster)

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def local(self, name: str) -> str:
        """The name of the table that holds the rows on a node."""
        return f"{name}_local" if self.cluster else name


@dataclass(frozen=True)
class Table:
    """A table in the MergeTree family.

    ``body`` is the column and index list. ``ttl`` is an expression of a row's time, such as
    ``toDateTime(Timestamp)``: the table then keeps rows for the target's ``ttl_days``.
    ``shard_key`` spreads rows across shards in cluster mode.
    """

    name: str
    body: str
    order_by: str
    engine: str = "MergeTree()"
    partition_by: str | None = None
    primary_key: str | None = None
    ttl: str | None = None
    settings: str | None = "index_granularity = 8192"
    shard_key: str = "rand()"

    def render(self, target: Target) -> list[str]:
        db = target.database
        local = target.local(self.name)
        clauses = [f"ENGINE = {_engine(self.engine, target, local)}"]
        if self.partition_by:
            clauses.append(f"PARTITION BY {self.partition_by}")
        if self.primary_key:
            clauses.append(f"PRIMARY KEY {self.primary_key}")
        clauses.append(f"ORDER BY {self.order_by}")
        if self.ttl and target.ttl_days > 0:
            clauses.append(f"TTL {self.ttl} + toIntervalDay({int(target.ttl_days)})")
        settings = self.settings or ""
        if self.ttl:
            settings = ", ".join(s for s in (settings, "ttl_only_drop_parts = 1") if s)
        if settings:
            clauses.append(f"SETTINGS {settings}")
        body = "\n".join(f"    {line.strip()}" for line in self.body.strip().splitlines())
        stmts = [
            f"CREATE TABLE IF NOT EXISTS {db}.{local}{target.on_cluster} (\n{body}\n)\n"
            + "\n".join(clauses)
        ]
        if target.cluster:
            stmts.append(
                f"CREATE TABLE IF NOT EXISTS {db}.{self.name}{target.on_cluster} "
                f"AS {db}.{local}\n"
                f"ENGINE = Distributed({target.cluster}, {db}, {local}, {self.shard_key})"
            )
        return stmts

    def ttl_statement(self, target: Target) -> str | None:
        """``ALTER TABLE … MODIFY/REMOVE TTL`` bringing an existing table to the target's TTL."""
        if not self.ttl:
            return None
        table = f"{target.database}.{target.local(self.name)}{target.on_cluster}"
        if target.ttl_days > 0:
            return (
                f"ALTER TABLE {table} MODIFY TTL {self.ttl} + toIntervalDay({int(target.ttl_days)})"
            )
        return f"ALTER TABLE {table} REMOVE TTL"


@dataclass(frozen=True)
class MaterializedView:
    """A materialized view from one table into another; ``select`` names them ``{source}``/``{target}``.

    In cluster mode the view reads and writes the local tables of each node.
    """

    name: str
    source: str
    target: str
    select: str

    def render(self, target: Target) -> list[str]:
        db = target.database
        select = self.select.strip().format(
            source=f"{db}.{target.local(self.source)}", target=f"{db}.{target.local(self.target)}"
        )
        return [
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{self.name}{target.on_cluster}\n"
            f"TO {db}.{target.local(self.target)}\nAS {select}"
        ]


@dataclass(frozen=True)
class Statement:
    """Any other statement; ``{db}``, ``{on_cluster}`` and ``{local:name}`` are filled in."""

    sql: str

    def render(self, target: Target) -> list[str]:
        sql = re.sub(r"\{local:(\w+)\}", lambda m: target.local(m.group(1)), self.sql.strip())
        return [sql.replace("{db}", target.database).replace("{on_cluster}", target.on_cluster)]


SchemaObject = Table | MaterializedView | Statement

_REPLICATED = re.compile(r"^(\w*MergeTree)\((.*)\)$", re.S)


def _engine(engine: str, target: Target, local: str) -> str:
    if not target.cluster:
        return engine
    match = _REPLICATED.match(engine.strip())
    if not match:
        raise ValueError(f"engine {engine!r} cannot be replicated")
    family, args = match.groups()
    zk = f"'/clickhouse/tables/{{shard}}/{target.database}/{local}', '{{replica}}'"
    return f"Replicated{family}({zk}{', ' + args if args.strip() else ''})"
