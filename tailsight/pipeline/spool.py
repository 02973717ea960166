"""The write-ahead spool: requests are on disk (fsync'ed) before they are acknowledged.

A spool is a directory of segment files. Receivers append records to the open segment
(``*.open``); one fsync covers every record appended while the previous one ran (group
commit), so a request's acknowledgement waits for at most two fsyncs however many arrive.
A segment is sealed (renamed ``*.seg``) when it reaches its size or age, and the writer
inserts sealed segments into the store one by one, deleting each once all its rows are in.

Record: ``b"TS"``, the signal's code (1 byte), the payload length, its CRC32 and the
number of rows it will write (4 bytes each, little endian), then the payload (the request
as protobuf). After ``kill -9`` the
tail of the open segment may hold a torn record; recovery truncates it: its request had
not been acknowledged, since acknowledgement follows the fsync.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"TS"
HEADER = struct.Struct("<2sBIII")

# A segment is one insert. Each insert costs the store a fixed ~60 ms of CPU (planning the
# trace transform, writing a part) and later merges of its part, so fewer, bigger segments
# are measurably cheaper per span (bench/README.md); 1 s bounds how long rows wait.
SEGMENT_BYTES = 32 << 20
SEGMENT_AGE_S = 1.0


class SpoolFull(RuntimeError):
    """The spool holds more than its bound: the receiver answers 429/503 with Retry-After."""


Payload = bytes | memoryview  # a request as received, or a view of it in a mapped segment


@dataclass(frozen=True)
class Record:
    """One request in a segment."""

    code: int
    payload: Payload
    items: int = 0


def record_header(code: int, payload: bytes, items: int = 0) -> bytes:
    return HEADER.pack(MAGIC, code, len(payload), zlib.crc32(payload), items)


def encode_record(code: int, payload: bytes, items: int = 0) -> bytes:
    return record_header(code, payload, items) + payload


def read_records(data: Payload, verify: bool = True) -> tuple[list[Record], int]:
    """The whole records at the start of ``data`` and the length they take (the rest is torn).

    ``verify=False`` skips the CRCs: for a segment this process wrote and sealed itself,
    whose records it checksummed as it appended them (see :func:`segment_records`).
    """
    records: list[Record] = []
    pos, end = 0, len(data)
    while pos + HEADER.size <= end:
        magic, code, length, crc, items = HEADER.unpack_from(data, pos)
        stop = pos + HEADER.size + length
        if magic != MAGIC or stop > end:
            break
        payload = data[pos + HEADER.size : stop]
        if verify and zlib.crc32(payload) != crc:
            break
        records.append(Record(code, payload, items))
        pos = stop
    return records, pos


class _Segment:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = 0
        self.opened = time.monotonic()


class Spool:
    """Segments under ``directory``; at most ``max_bytes`` on disk before appends are refused.

    Appends run on the event loop; :meth:`sealed` and :meth:`remove` are for the writer thread.
    """

    def __init__(
        self,
        directory: Path,
        max_bytes: int = 1 << 30,
        segment_bytes: int = SEGMENT_BYTES,
        segment_age_s: float = SEGMENT_AGE_S,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.segment_age_s = segment_age_s
        self._lock = threading.Lock()
        self._sealed_bytes = 0
        self._seq = 0
        self._boot = uuid.uuid4().hex[:8]  # segment names, hence dedup tokens, never repeat
        self._current: _Segment | None = None
        self._retiring: list[_Segment] = []
        self._sealing: list[_Segment] = []  # being fsync'ed and renamed by the sync loop
        self._waiters: list[asyncio.Future[None]] = []
        self._sync_task: asyncio.Task[None] | None = None
        self._age_task: asyncio.Task[None] | None = None
        self._fsync = ThreadPoolExecutor(1, thread_name_prefix="spool-fsync")
        self.sealed_event = threading.Event()

    # --- recovery and the writer's side -------------------------------------------------

    def recover(self) -> int:
        """Seal segments left open by a crash (dropping a torn tail); the sealed byte count."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.directory.glob("*.open")):
            data = path.read_bytes()
            records, good = read_records(data)
            if good < len(data):
                log.warning(
                    "spool %s: dropped a torn tail of %d bytes", path.name, len(data) - good
                )
            if records:
                with open(path, "r+b") as f:
                    f.truncate(good)
                    os.fsync(f.fileno())
                path.rename(path.with_suffix(".seg"))
            else:
                path.unlink()
        _fsync_dir(self.directory)
        names = [p.name for p in self.directory.glob("*.seg")]
        self._seq = max((int(n.split("-", 1)[0]) for n in names), default=0)
        with self._lock:
            self._sealed_bytes = sum(p.stat().st_size for p in self.directory.glob("*.seg"))
        if names:
            self.sealed_event.set()
        return self._sealed_bytes

    def wrote(self, path: Path) -> bool:
        """Whether this process wrote and sealed the segment at ``path`` (its name says so).

        Its records need no CRC check when read: they were checksummed from the request
        bytes as they were appended, and their segment was whole when sealed (the CRCs
        find torn tails, which only a crash leaves; recovery checks those segments). A
        segment from an earlier run is checked record by record as it is read.
        """
        return path.stem.endswith(f"-{self._boot}")

    def sealed(self) -> list[Path]:
        """Sealed segments, oldest first."""
        return sorted(self.directory.glob("*.seg"))

    def remove(self, path: Path) -> None:
        """Delete a segment whose rows are all in the store."""
        size = path.stat().st_size
        path.unlink()
        with self._lock:
            self._sealed_bytes -= size

    def quarantine(self, path: Path) -> None:
        """Move a segment that cannot be read aside (``*.bad``), out of the writer's way."""
        size = path.stat().st_size
        path.rename(path.with_suffix(".bad"))
        with self._lock:
            self._sealed_bytes -= size

    @property
    def size(self) -> int:
        current = self._current.size if self._current else 0
        retiring = sum(s.size for s in self._retiring) + sum(s.size for s in self._sealing)
        with self._lock:
            return self._sealed_bytes + current + retiring

    # --- the receivers' side -------------------------------------------------------------

    def full(self) -> bool:
        return self.size >= self.max_bytes

    async def append(self, code: int, payload: bytes, items: int = 0) -> None:
        """Write one request and return once it is on disk; :class:`SpoolFull` past the bound."""
        if self.full():
            raise SpoolFull(f"spool holds {self.size} bytes (bound {self.max_bytes})")
        header = record_header(code, payload, items)
        size = len(header) + len(payload)
        segment = self._current
        if segment is not None and segment.size and segment.size + size > self.segment_bytes:
            self._retire()
            segment = None
        if segment is None:
            segment = self._open_segment()
        written = os.writev(segment.fd, (header, payload))  # no copy of the body to join them
        if written < size:  # a short write (a full disk): the rest, or the error, follows
            view = memoryview(header + payload)[written:]
            while view:
                view = view[os.write(segment.fd, view) :]
        segment.size += size
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._kick()
        await waiter

    def _open_segment(self) -> _Segment:
        self._seq += 1
        segment = _Segment(self.directory / f"{self._seq:012d}-{self._boot}.open")
        self._current = segment
        if self._age_task is None or self._age_task.done():
            self._age_task = asyncio.get_running_loop().create_task(self._age_loop())
        return segment

    def _retire(self) -> None:
        if self._current is not None:
            self._retiring.append(self._current)
            self._current = None

    def _kick(self) -> None:
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiters or self._retiring:
            waiters, self._waiters = self._waiters, []
            retiring, self._retiring = self._retiring, []
            self._sealing = retiring
            segments = retiring + ([self._current] if self._current else [])
            try:
                await loop.run_in_executor(self._fsync, _sync_and_seal, segments, len(retiring))
            except OSError as exc:
                log.error("spool fsync failed: %s", exc)
                self._retiring = retiring + self._retiring  # sealed again by the next request
                self._sealing = []
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                return  # the next append tries again
            with self._lock:
                self._sealed_bytes += sum(s.size for s in retiring)
            self._sealing = []
            if retiring:
                self.sealed_event.set()
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    async def _age_loop(self) -> None:
        while True:
            await asyncio.sleep(self.segment_age_s / 2)
            segment = self._current
            if (
                segment is not None
                and segment.size
                and (time.monotonic() - segment.opened >= self.segment_age_s)
            ):
                self._retire()
                self._kick()

    async def seal(self) -> None:
        """Seal the open segment now (at shutdown, so the writer can drain it)."""
        self._retire()
        self._kick()
        if self._sync_task is not None:
            await self._sync_task

    async def close(self) -> None:
        await self.seal()
        if self._age_task is not None:
            self._age_task.cancel()
        self._fsync.shutdown(wait=True)


def _sync_and_seal(segments: list[_Segment], retiring: int) -> None:
    """fsync every segment; close and rename the first ``retiring`` of them to ``*.seg``."""
    for i, segment in enumerate(segments):
        os.fdatasync(segment.fd)
        if i < retiring:
            os.close(segment.fd)
            segment.path.rename(segment.path.with_suffix(".seg"))
    if retiring:
        _fsync_dir(segments[0].path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def segment_records(path: Path, verify: bool = True) -> Iterator[list[Record]]:
    """The records of a sealed segment, their payloads views of the file mapped in memory.

    Mapping the page cache spares the writer a copy of every segment into fresh memory
    (page faults on each new 32 MiB) and a copy of each payload out of it. The views are
    valid inside the ``with`` only. ``verify=False`` trusts the records' CRCs
    (:meth:`Spool.wrote`).
    """
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            yield []
            return
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mapped)
    try:
        records, _ = read_records(view, verify)
        yield records
    finally:
        records = []
        view.release()
        try:
            mapped.close()
        except BufferError:  # a payload view is still referenced: unmapped when it goes
            pass
