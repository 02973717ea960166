"""One client abstraction over clickhouse-connect, for the embedded engine and for servers.

``chdb:///path`` opens chDB, a real ClickHouse engine, inside this process; it admits one
process per data directory, which :class:`~tailsight.storage.lock.DataDirLock` enforces
with a clear message. ``http(s)://user:pass@host:8123/db`` talks to a ClickHouse server
or cluster. Each thread gets its own driver client (clickhouse-connect clients are not
meant to be shared across threads); for chDB these share the one in-process engine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
import pandas as pd
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from clickhouse_connect.driver.query import QueryResult

from tailsight.storage.ddl import check_identifier
from tailsight.storage.lock import DataDirLock, LockedError

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store cannot be opened or answered with an error; the message is one readable line."""


class StoreLocked(StoreError):
    """The embedded store's data directory is held by another process."""

    def __init__(self, error: LockedError) -> None:
        super().__init__(str(error))
        self.holder = error.holder
        self.lock_path = error.path


def _check_identifier(name: str, what: str = "database") -> str:
    try:
        return check_identifier(what, name)
    except ValueError as exc:
        raise StoreError(str(exc)) from None


class Store:
    """A connection to the ClickHouse store: embedded (chDB) or a server.

    Args:
        url: ``chdb:///abs/path`` for the embedded engine, or ``http(s)://…`` for a server;
            a database in the URL path (``http://h:8123/otel``) overrides ``database``.
        database: the database holding tailsight's tables.
        cluster: the ClickHouse cluster name, when the schema is rendered for a cluster.
        api_url: written into the data-directory lock so other processes can find our API.
    """

    def __init__(
        self,
        url: str,
        database: str = "otel",
        *,
        cluster: str | None = None,
        api_url: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.url = url
        self.cluster = _check_identifier(cluster, "cluster") if cluster is not None else None
        self.embedded = parts.scheme == "chdb"
        self._local = threading.local()
        self._clients: list[Client] = []
        self._clients_lock = threading.Lock()
        self._lock: DataDirLock | None = None
        self._closed = False
        self._settings_known: dict[str, bool] = {}
        if self.embedded:
            if not parts.path or parts.netloc not in ("", "localhost"):
                raise StoreError(f"embedded store URL must be chdb:///absolute/path, not {url!r}")
            self.data_dir: Path | None = Path(unquote(parts.path))
            self.database = _check_identifier(database)
            self._lock = DataDirLock(self.data_dir)
            try:
                self._lock.acquire(api_url)
            except LockedError as exc:
                raise StoreLocked(exc) from None
            # The engine writes its files with the process umask (0644 usually): the
            # directory alone keeps them from other users, as the spool's files are (0600).
            self.data_dir.chmod(0o700)
        elif parts.scheme in ("http", "https"):
            self.data_dir = None
            path_db = parts.path.strip("/")
            self.database = _check_identifier(path_db or database)
        else:
            raise StoreError(
                f"unsupported store URL {url!r}: use chdb:///path or http(s)://user:pass@host:8123/db"
            )
        try:
            self._create_database()
        except BaseException:
            self.close()
            raise

    @property
    def display_url(self) -> str:
        """The URL without credentials, for messages and logs."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return f"{parts.scheme}://{host}{parts.path}"

    def _connect(self, database: str) -> Client:
        try:
            if self.embedded:
                return clickhouse_connect.get_client(dsn=self.url, database=database)
            parts = urlsplit(self.url)
            return clickhouse_connect.get_client(
                interface=parts.scheme,
                host=parts.hostname or "localhost",
                port=parts.port or (8443 if parts.scheme == "https" else 8123),
                username=unquote(parts.username or "default"),
                password=unquote(parts.password or ""),
                database=database,
                connect_timeout=5,
                send_receive_timeout=300,
                # Inserts wait for the data to be durable on the server before they return.
                settings={"insert_deduplicate": 1},
            )
        except ClickHouseError as exc:
            raise StoreError(
                f"cannot open the store at {self.display_url}: {_first_line(exc)}"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot reach the store at {self.display_url}: {exc}") from None

    def _create_database(self) -> None:
        on_cluster = f" ON CLUSTER {self.cluster}" if self.cluster else ""
        bootstrap = self._connect("default")
        try:
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {self.database}{on_cluster}")
        except ClickHouseError as exc:
            raise StoreError(
                f"cannot create database {self.database}: {_first_line(exc)}"
            ) from None
        finally:
            bootstrap.close()

    @property
    def client(self) -> Client:
        """This thread's driver client, opened on first use."""
        if self._closed:
            raise StoreError("the store is closed")
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._connect(self.database)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def command(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Any:
        """Run a statement that returns no rows (DDL, DELETE, INSERT … SELECT …)."""
        try:
            return self.client.command(sql, parameters=parameters, settings=settings)
        except ClickHouseError as exc:
            raise StoreError(_first_line(exc)) from exc

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Run a query; parameters are bound by the driver (``{name:Type}`` placeholders)."""
        try:
            return self.client.query(sql, parameters=parameters)
        except ClickHouseError as exc:
            raise StoreError(_first_line(exc)) from exc

    def frame(self, sql: str, parameters: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a query and return its result as a pandas DataFrame, built column by column."""
        try:
            return self.client.query_df(sql, parameters=parameters)
        except ClickHouseError as exc:
            raise StoreError(_first_line(exc)) from exc

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        """Run a query and return its rows as tuples."""
        return self.query(sql, parameters).result_rows

    def insert(
        self,
        table: str,
        rows: Iterable[Sequence[Any]],
        column_names: Sequence[str],
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Insert rows (row-oriented) into ``table``."""
        try:
            self.client.insert(
                table, list(rows), column_names=list(column_names), settings=settings
            )
        except ClickHouseError as exc:
            raise StoreError(f"insert into {table} failed: {_first_line(exc)}") from exc

    def insert_columns(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Insert column-oriented data: one sequence per column, all of equal length."""
        try:
            self.client.insert(
                table,
                list(columns),
                column_names=list(column_names),
                column_oriented=True,
                settings=settings,
            )
        except ClickHouseError as exc:
            raise StoreError(f"insert into {table} failed: {_first_line(exc)}") from exc

    def insert_native(
        self,
        table: str,
        column_names: Sequence[str],
        data: bytes,
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Insert a ClickHouse ``Native`` block already encoded (columns in that order)."""
        try:
            self.client.raw_insert(
                table, list(column_names), insert_block=data, settings=settings, fmt="Native"
            )
        except ClickHouseError as exc:
            raise StoreError(f"insert into {table} failed: {_first_line(exc)}") from exc

    def tables(self) -> set[str]:
        """Names of the tables and views in our database."""
        rows = self.rows(
            "SELECT name FROM system.tables WHERE database = {db:String}", {"db": self.database}
        )
        return {r[0] for r in rows}

    def has_setting(self, name: str) -> bool:
        """Whether the engine knows the query-level setting ``name`` (servers differ by version)."""
        known = self._settings_known
        if name not in known:
            rows = self.rows(
                "SELECT count() FROM system.settings WHERE name = {name:String}", {"name": name}
            )
            known[name] = bool(rows[0][0])
        return known[name]

    def ping(self) -> bool:
        try:
            return (
                bool(self.client.ping()) if not self.embedded else self.rows("SELECT 1")[0][0] == 1
            )
        except (StoreError, ClickHouseError, OSError):
            return False

    def close(self) -> None:
        """Close every thread's client and release the data-directory lock."""
        self._closed = True
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing must not mask the shutdown path
                log.debug("error closing a store client", exc_info=True)
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_store(
    url: str, database: str = "otel", *, cluster: str | None = None, api_url: str | None = None
) -> Store:
    """Open the store at ``url``."""
    return Store(url, database, cluster=cluster, api_url=api_url)
