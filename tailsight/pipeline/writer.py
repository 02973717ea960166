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
from pathlib import Path
from typing import Protocol

from starlette.routing import BaseRoute

from tailsight.pipeline.batch import TableBatch
from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.signals import SIGNAL_BY_CODE
from tailsight.pipeline.spool import Spool, iter_segment

log = logging.getLogger(__name__)


class InsertTarget(Protocol):
    """Where rows go: :class:`~tailsight.storage.store.Store` satisfies it."""

    def insert_columns(
        self,
        table: str,
        columns: list[list[object]],
        column_names: list[str],
        settings: dict[str, object] | None = None,
    ) -> None: ...


def decode_segment(path: Path) -> list[TableBatch]:
    """The rows of a segment's requests, one batch per table."""
    tables: dict[str, TableBatch] = {}
    for record in iter_segment(path):
        signal = SIGNAL_BY_CODE[record.code]
        msg = signal.request()
        msg.ParseFromString(record.payload)
        for batch in signal.decode(msg).batches:
            if batch.table in tables:
                tables[batch.table].extend(batch)
            else:
                tables[batch.table] = batch
    return [b for b in tables.values() if b.rows]


class SpoolWriter:
    """Drains ``spool`` into ``store`` from one thread; a :class:`Component` of ``tailsight up``."""

    name = "ingest-writer"

    def __init__(
        self,
        spool: Spool,
        store: InsertTarget,
        metrics: IngestMetrics,
        drain_timeout_s: float = 10.0,
    ) -> None:
        self.spool = spool
        self.store = store
        self.metrics = metrics
        self.drain_timeout_s = drain_timeout_s
        self.store_failing = False  # the last insert failed: receivers answer 503, not 429
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._done: dict[Path, set[str]] = {}  # tables of a segment already inserted

    def routes(self) -> list[BaseRoute]:
        return [self.metrics.route()]

    async def start(self) -> None:
        held = self.spool.recover()
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
                # Store down or refusing: keep the segment and retry it after a pause.
                if self._stopping.wait(backoff) and deadline and time.monotonic() > deadline:
                    return
                backoff = min(backoff * 2, 5.0)
                break

    def write_segment(self, path: Path) -> bool:
        """Insert one segment's rows and delete it; False when the store failed (kept for retry)."""
        started = time.monotonic()
        try:
            batches = decode_segment(path)
        except Exception:  # noqa: BLE001 - a segment we cannot read must not stop the writer
            log.exception("spool segment %s cannot be decoded; moved aside", path.name)
            path.rename(path.with_suffix(".bad"))
            return True
        done = self._done.setdefault(path, set())
        for batch in batches:
            if batch.table in done:
                continue
            try:
                self.store.insert_columns(
                    batch.table,
                    batch.columns,
                    list(batch.names),
                    settings={"insert_deduplication_token": f"{path.stem}:{batch.table}"},
                )
            except Exception as exc:  # noqa: BLE001 - any store failure is retried
                self.store_failing = True
                self.metrics.inc("tailsight_ingest_insert_errors_total", table=batch.table)
                log.warning(
                    "insert of %s into %s failed, will retry: %s", path.name, batch.table, exc
                )
                return False
            done.add(batch.table)
            self.metrics.inc("tailsight_ingest_rows_written_total", batch.rows, table=batch.table)
        self.spool.remove(path)
        self._done.pop(path, None)
        self.store_failing = False
        self.metrics.observe("tailsight_ingest_insert_seconds", time.monotonic() - started)
        return True
