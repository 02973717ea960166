"""Telling a request the store can never take from a store that is down, and setting it aside.

The writer retries what fails for a temporary reason (the store down, overloaded, out of
memory) for as long as it takes. An insert that fails because of the data itself (a body
the engine's parser rejects, a value out of a column's range) fails the same way every
time: retrying it would hold every later segment back for ever. Such an insert is split
until the request(s) at fault are found alone (:mod:`tailsight.pipeline.writer`); each is
written here, under ``<spool>/quarantine/``, with the error beside it, counted in
``/metrics`` and named in ``/api/v1/health``, and the other requests go on.
"""

from __future__ import annotations

import logging
import re
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError

log = logging.getLogger(__name__)

# ClickHouse error codes that a given block of data raises every time it is inserted
# (parse errors, values out of a type's range, protobuf input the schema does not fit).
_DATA_CODES = frozenset(
    {6, 9, 13, 25, 26, 27, 32, 33, 36, 38, 41, 43, 53, 69, 70, 72, 117, 131, 190, 321, 366, 407}
    | {435, 436, 437, 438, 443, 444, 467, 565, 569, 570, 632, 728}
)
_CODE = re.compile(r"Code: (\d+)")
# Errors our own code raises while decoding or serializing a request's values.
DATA_EXCEPTIONS = (
    ValueError,
    TypeError,
    OverflowError,
    struct.error,
    UnicodeError,
    DecodeError,
    KeyError,
    IndexError,
)


def store_code(exc: BaseException) -> int | None:
    """The ClickHouse error code in ``exc`` or its causes, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        match = _CODE.search(str(seen))
        if match:
            return int(match.group(1))
        seen = seen.__cause__ or seen.__context__
    return None


def is_permanent(exc: BaseException) -> bool:
    """Whether inserting the same data again will surely fail the same way.

    Anything not known to be about the data counts as temporary: the writer then waits
    and retries rather than quarantine a request that a healthy store would take.
    """
    code = store_code(exc)
    if code is not None:
        if code == 252:  # TOO_MANY_PARTS: temporary (merges behind) unless about partitions
            return "partitions" in str(exc).lower()
        return code in _DATA_CODES
    seen: BaseException | None = exc  # the driver's errors wrap what serializing raised
    while seen is not None:
        if isinstance(seen, DATA_EXCEPTIONS) or type(seen).__name__ == "DataError":
            return True
        seen = seen.__cause__
    return False


@dataclass(frozen=True)
class Quarantined:
    """One request set aside: where, which table refused it, and why."""

    path: Path
    table: str
    error: str
    at: float


class Quarantine:
    """The quarantine directory and what this process put there."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0  # requests quarantined by this process
        self.last: Quarantined | None = None
        self._lock = threading.Lock()

    def put(
        self, segment: Path, index: int, code: int, payload: bytes, table: str, error: str
    ) -> Path:
        """Keep request ``index`` of ``segment`` (its protobuf) and the error; its path.

        The name is the segment's and the request's: quarantining it again after a
        restart (its segment replayed) writes the same file, not a second one.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stem = f"{segment.stem}-{index:06d}-{table}"
        path = self.directory / f"{stem}.s{code}.pb"
        path.write_bytes(payload)
        path.chmod(0o600)
        reason = self.directory / f"{stem}.error.txt"
        reason.write_text(f"{table}: {error}\n")
        reason.chmod(0o600)
        entry = Quarantined(path, table, error, time.time())
        with self._lock:
            self.count += 1
            self.last = entry
        log.error(
            "quarantined request %d of spool segment %s (%d bytes): the store refuses its %s "
            "rows for good (%s); kept as %s, the other requests go on",
            index,
            segment.name,
            len(payload),
            table,
            error,
            path,
        )
        return path

    def held(self) -> int:
        """Requests in the quarantine directory (from this run and earlier ones)."""
        if not self.directory.is_dir():
            return 0
        return sum(1 for _ in self.directory.glob("*.pb"))

    def problems(self) -> list[str]:
        """What ``/api/v1/health`` reports: quarantined requests, wherever they came from."""
        held = self.held()
        if not held:
            return []
        text = f"{held} acknowledged request(s) could not be stored and are quarantined in {self.directory}"
        last = self.last
        if last is not None:
            text += f"; latest: {last.table}: {last.error}"
        return [text]
