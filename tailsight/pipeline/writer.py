"""The one writer: drains sealed spool segments into the store, exactly once.

Each segment is one batch (the spool seals it by size or age). Its requests are decoded
into columns per table and inserted with ``insert_deduplication_token`` =
``<segment>:<table>``; only when every table's insert succeeded is the segment deleted.
A crash or store error between the two means the segment is inserted again, and the
store drops the repeat (migration 0003 turns deduplication on for plain MergeTree).
While the store is down or refuses inserts the writer retries with backoff and the spool
grows, up to its bound, after which receivers refuse requests.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from starlette.routing import BaseRoute

from tailsight.pipeline.batch import TableBatch
from tailsight.pipeline.decode_metrics import TABLES
from tailsight.pipeline.native_traces import available as encoder_available
from tailsight.pipeline.native_traces import render_native_traces, write_native_traces
from tailsight.pipeline.nested_values import has_nested_values
from tailsight.pipeline.quarantine import DATA_EXCEPTIONS, Quarantine, is_permanent
from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.signals import SIGNAL_BY_CODE, SIGNALS, Signal
from tailsight.pipeline.spool import Payload, Record, Spool, segment_records
from tailsight.storage.otlp_protobuf import (
    insert_traces_native,
    insert_traces_native_bytes,
    insert_traces_protobuf,
    write_length_delimited,
)

log = logging.getLogger(__name__)


class InsertTarget(Protocol):
    """Where rows go: :class:`~tailsight.storage.store.Store` satisfies it."""

    embedded: bool

    def insert_columns(
        self,
        table: str,
        columns: list[list[object]],
        column_names: list[str],
        settings: dict[str, object] | None = None,
    ) -> None: ...

    def command(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Any: ...

    def has_setting(self, name: str) -> bool: ...


@dataclass
class SegmentRows:
    """A segment's rows: decoded batches per table, and trace requests left for the store to parse."""

    batches: list[TableBatch]
    trace_payloads: list[Payload]
    trace_rows: int = 0


def decode_segment(records: list[Record], native_traces: bool = False) -> SegmentRows:
    """The rows of a segment's requests, one batch per table.

    With ``native_traces`` the trace requests are returned as they are, for
    :meth:`SpoolWriter._insert_traces` (the compiled encoder or the store's own parser).
    """
    tables: dict[str, TableBatch] = {}
    payloads: list[Payload] = []
    trace_rows = 0
    for record in records:
        signal = SIGNAL_BY_CODE[record.code]
        if native_traces and signal.name == "traces":
            payloads.append(record.payload)
            trace_rows += record.items
            continue
        _decode_into(tables, signal, record.payload)
    return SegmentRows([b for b in tables.values() if b.rows], payloads, trace_rows)


def _decode_into(tables: dict[str, TableBatch], signal: Signal, payload: Payload) -> None:
    msg = signal.request()
    msg.ParseFromString(payload)  # type: ignore[arg-type]  # upb reads any buffer
    for batch in signal.decode(msg).batches:
        if batch.table in tables:
            tables[batch.table].extend(batch)
        else:
            tables[batch.table] = batch


def insert_settings(store: InsertTarget) -> dict[str, Any]:
    """Settings for every ingest insert, as far as ``store``'s engine knows them.

    Skip indexes (the exporter's bloom filters) are built when parts merge, not at insert:
    a merge builds them anew for the merged part in any case, so building them for each
    inserted part is work thrown away within minutes (~0.6 µs a span). A part not merged
    yet is read without them, which only costs a scan of that part.

    Partitions: one insert may write rows of any number of days (a segment holds what
    many clients sent; each request's times are bounded at intake). Without this, rows
    on more than 100 days made the whole segment fail every time (Code 252).
    """
    off = ("materialize_skip_indexes_on_insert", "throw_on_max_partitions_per_insert_block")
    return {name: 0 for name in off if store.has_setting(name)}


class SpoolWriter:
    """Drains ``spool`` into ``store`` from one thread; a :class:`Component` of ``tailsight up``."""

    name = "ingest-writer"

    def __init__(
        self,
        spool: Spool,
        store: InsertTarget,
        metrics: IngestMetrics,
        drain_timeout_s: float = 10.0,
        native_traces: bool | None = None,
        trace_files: bool | None = None,
    ) -> None:
        self.spool = spool
        self.store = store
        self.metrics = metrics
        self.drain_timeout_s = drain_timeout_s
        # Trace requests are kept whole for _insert_traces: the compiled encoder renders
        # them (measured fastest, bench/ingest.py), else the embedded store parses them
        # itself; only a server store without the encoder has them decoded in Python.
        if native_traces is None:
            native_traces = store.embedded or encoder_available()
        self.native_traces = native_traces
        # The embedded store reads trace inputs from files beside the segment; a server is
        # sent the bytes (the embedded store takes bytes too, which tests use).
        self.trace_files = store.embedded if trace_files is None else trace_files
        self.store_failing = False  # the last insert failed: receivers answer 503, not 429
        self.last_error: str | None = None
        self.quarantine = Quarantine(spool.directory / "quarantine")
        # The trace insert's input: one file, written over in place segment after segment,
        # so its pages stay in the page cache instead of being allocated afresh each time.
        self._native_file = spool.directory / "insert.traces.native"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._done: dict[Path, set[str]] = {}  # tables of a segment already inserted

    def routes(self) -> list[BaseRoute]:
        return [self.metrics.route()]

    async def start(self) -> None:
        held = self.spool.recover()
        for stale in self.spool.directory.glob("*.traces.*"):
            stale.unlink()  # a trace insert's input left by a crash; its segment is replayed
        if held:
            log.info("spool holds %d bytes from before; replaying", held)
        self.metrics.gauge("tailsight_ingest_spool_bytes", lambda: self.spool.size)
        self.metrics.gauge("tailsight_ingest_spool_segments", lambda: len(self.spool.sealed()))
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        await self.spool.close()
        self._stopping.set()
        self.spool.sealed_event.set()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._native_file.unlink(missing_ok=True)

    def _run(self) -> None:
        backoff = 0.2
        deadline: float | None = None
        while True:
            if self._stopping.is_set():
                deadline = deadline or time.monotonic() + self.drain_timeout_s
            segments = self.spool.sealed()
            if not segments:
                if self._stopping.is_set():
                    return
                self.spool.sealed_event.wait(0.5)
                self.spool.sealed_event.clear()
                continue
            for path in segments:
                if deadline is not None and time.monotonic() > deadline:
                    log.warning("%d spool segments left for the next start", len(segments))
                    return
                if self.write_segment(path):
                    backoff = 0.2
                    continue
                # Store down or refusing: keep the segment and retry it after a pause. While
                # stopping, the stop event is set and waits no more: sleep, within the drain.
                if deadline is None:
                    self._stopping.wait(backoff)
                else:
                    time.sleep(max(0.0, min(backoff, deadline - time.monotonic())))
                backoff = min(backoff * 2, 5.0)
                break

    def write_segment(self, path: Path) -> bool:
        """Insert one segment's rows and delete it; False when the store failed (kept for retry).

        A request whose rows the store refuses for good is quarantined alone (see
        :mod:`tailsight.pipeline.quarantine`); the segment's other requests are inserted.
        """
        started = time.monotonic()
        try:
            with segment_records(path, verify=not self.spool.wrote(path)) as records:
                written = self._write_records(path, records)
        except Exception as exc:  # noqa: BLE001 - a segment we cannot read must not stop the writer
            if not is_permanent(exc):  # the store (or the disk) failed: keep it, retry
                self._failed(path, "?", exc)
                return False
            log.exception("spool segment %s cannot be read; moved aside", path.name)
            self.spool.quarantine(path)
            self.metrics.inc("tailsight_ingest_quarantined_segments_total")
            return True
        if not written:
            return False
        self.spool.remove(path)
        self._done.pop(path, None)
        self.store_failing = False
        self.last_error = None
        self.metrics.observe("tailsight_ingest_insert_seconds", time.monotonic() - started)
        return True

    def _write_records(self, path: Path, records: list[Record]) -> bool:
        keep = list(range(len(records)))
        try:
            rows = decode_segment(records, self.native_traces)
        except DATA_EXCEPTIONS:  # a request Python cannot decode: find it, set it aside
            keep = [i for i in keep if self._decodes(path, records, i)]
            rows = decode_segment([records[i] for i in keep], self.native_traces)
        written = self._insert_rows(path, rows, records, keep)
        del rows  # its payloads are views of the mapped segment
        return written

    def _decodes(self, path: Path, records: list[Record], index: int) -> bool:
        record = records[index]
        try:
            decode_segment([record], self.native_traces)
        except DATA_EXCEPTIONS as exc:
            self._quarantine(path, records, index, "decode", exc)
            return False
        return True

    def _insert_rows(
        self, path: Path, rows: SegmentRows, records: list[Record], keep: list[int]
    ) -> bool:
        """Insert each table's rows not yet in; False at the first the store refuses for now."""
        done = self._done.setdefault(path, set())
        inserts: list[tuple[str, int, Callable[[dict[str, Any]], None]]] = [
            (b.table, b.rows, partial(self._insert_batch, b)) for b in rows.batches
        ]
        if rows.trace_payloads:
            insert = partial(self._insert_traces, path, rows.trace_payloads)
            inserts.append(("otel_traces", rows.trace_rows, insert))
        for table, count, insert_one in inserts:
            if table in done:
                continue
            try:
                insert_one(self._settings(f"{path.stem}:{table}"))
            except Exception as exc:  # noqa: BLE001 - any store failure is retried or split
                if not is_permanent(exc):
                    self._failed(path, table, exc)
                    return False
                log.warning(
                    "insert of %s into %s refused for good (%s): finding the request(s) at fault",
                    path.name,
                    table,
                    _first_line(exc),
                )
                mine = [i for i in keep if table in _TABLES[records[i].code]]
                try:
                    self._split(path, records, table, mine)
                except _StoreFailing as failing:
                    self._failed(path, table, failing.__cause__ or failing)
                    return False
            else:
                self.metrics.inc("tailsight_ingest_rows_written_total", count, table=table)
            done.add(table)
        return True

    def _split(self, path: Path, records: list[Record], table: str, indices: list[int]) -> None:
        """Insert ``table``'s rows of ``indices`` in halves, down to single requests.

        Each part carries a token naming its segment, table and requests: the halving is
        the same after a restart (the same data fails the same way), so a part inserted
        before a crash is dropped as a repeat when the segment is replayed.
        """
        if len(indices) == 1:
            try:
                self._insert_part(path, records, table, indices)
            except Exception as exc:  # noqa: BLE001 - classified below
                if not is_permanent(exc):
                    raise _StoreFailing from exc
                self._quarantine(path, records, indices[0], table, exc)
            return
        half = len(indices) // 2
        for part in (indices[:half], indices[half:]):
            try:
                self._insert_part(path, records, table, part)
            except Exception as exc:  # noqa: BLE001 - classified below
                if not is_permanent(exc):
                    raise _StoreFailing from exc
                self._split(path, records, table, part)

    def _insert_part(self, path: Path, records: list[Record], table: str, part: list[int]) -> None:
        settings = self._settings(f"{path.stem}:{table}:{part[0]}-{part[-1]}")
        if table == "otel_traces" and self.native_traces:
            self._insert_traces(path, [records[i].payload for i in part], settings)
            count = sum(records[i].items for i in part)
        else:
            tables: dict[str, TableBatch] = {}
            for i in part:
                _decode_into(tables, SIGNAL_BY_CODE[records[i].code], records[i].payload)
            batch = tables.get(table)
            count = batch.rows if batch is not None else 0
            if count and batch is not None:
                self._insert_batch(batch, settings)
        self.metrics.inc("tailsight_ingest_rows_written_total", count, table=table)

    def _settings(self, token: str) -> dict[str, Any]:
        return {
            **insert_settings(self.store),
            "insert_deduplication_token": token,
        }

    def _failed(self, path: Path, table: str, exc: BaseException) -> None:
        self.store_failing = True
        self.last_error = f"insert into {table} failed: {_first_line(exc)}"
        self.metrics.inc("tailsight_ingest_insert_errors_total", table=table)
        log.warning("insert of %s into %s failed, will retry: %s", path.name, table, exc)

    def _quarantine(
        self, path: Path, records: list[Record], index: int, table: str, exc: BaseException
    ) -> None:
        record = records[index]
        self.quarantine.put(
            path, index, record.code, bytes(record.payload), table, _first_line(exc)
        )
        known = SIGNAL_BY_CODE.get(record.code)
        signal = known.name if known is not None else f"code {record.code}"
        self.metrics.inc("tailsight_ingest_quarantined_requests_total", signal=signal)
        self.metrics.inc("tailsight_ingest_quarantined_items_total", record.items, signal=signal)

    def problems(self) -> list[str]:
        """What is wrong with ingest now, for ``/api/v1/health``."""
        found = self.quarantine.problems()
        bad = sum(1 for _ in self.spool.directory.glob("*.bad"))
        if bad:
            found.append(
                f"{bad} spool segment(s) could not be read; moved aside in {self.spool.directory}"
            )
        if self.store_failing and self.last_error:
            found.append(f"the store refuses inserts, retrying: {self.last_error}")
        return found

    def _insert_batch(self, batch: TableBatch, settings: dict[str, Any]) -> None:
        self.store.insert_columns(batch.table, batch.columns, list(batch.names), settings=settings)

    def _insert_traces(self, path: Path, payloads: list[Payload], settings: dict[str, Any]) -> None:
        if not self.trace_files:
            self._send_traces(payloads, settings)
            return
        rows = write_native_traces(payloads, self._native_file)
        if rows is not None:  # rendered by the compiled encoder: the store only reads it
            if rows:
                insert_traces_native(self.store, self._native_file, settings)  # type: ignore[arg-type]
            return
        pb = path.with_suffix(".traces.pb")
        write_length_delimited(pb, payloads)
        try:
            scalar = not any(has_nested_values(p) for p in payloads)
            insert_traces_protobuf(self.store, pb, settings, scalar)  # type: ignore[arg-type]
        finally:
            pb.unlink(missing_ok=True)

    def _send_traces(self, payloads: list[Payload], settings: dict[str, Any]) -> None:
        block = render_native_traces(payloads)
        if block is not None:
            data, rows = block
            if rows:
                insert_traces_native_bytes(self.store, data, settings)  # type: ignore[arg-type]
            return
        tables: dict[str, TableBatch] = {}  # what the encoder declines: decoded in Python
        for payload in payloads:
            _decode_into(tables, _TRACES, payload)
        for batch in tables.values():
            if batch.rows:
                self._insert_batch(batch, settings)


_TRACES = next(s for s in SIGNALS if s.name == "traces")
# The tables each signal's requests write, by spool code.
_TABLES: dict[int, frozenset[str]] = {
    s.code: frozenset(
        {"traces": ("otel_traces",), "logs": ("otel_logs",)}.get(
            s.name, tuple(table for table, _ in TABLES.values())
        )
    )
    for s in SIGNALS
}


class _StoreFailing(Exception):
    """A temporary store failure met while splitting a segment: the segment is retried whole."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
