"""The data-directory lock: the embedded engine admits one process per data directory.

The lock is an ``flock`` on ``<data_dir>/tailsight.lock``, held for the life of the
process and released by the kernel when the process dies, even on ``kill -9``, so a
stale file never blocks a restart. The file's content names the holder (pid, command,
API URL) so that a second process can say who holds it, and so that the CLI can reach
a running ``tailsight up`` through its API instead of opening the store.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = "tailsight.lock"


@dataclass(frozen=True)
class LockHolder:
    """Who holds a data directory."""

    pid: int
    command: str
    started: str
    api_url: str | None = None

    def describe(self) -> str:
        return f"process {self.pid} ({self.command}, since {self.started})"


def _read_holder(path: Path) -> LockHolder | None:
    try:
        data = json.loads(path.read_text() or "{}")
        return LockHolder(
            pid=int(data["pid"]),
            command=str(data.get("command", "?")),
            started=str(data.get("started", "?")),
            api_url=data.get("api_url"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class DataDirLock:
    """An exclusive, process-lifetime lock on one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, api_url: str | None = None) -> None:
        """Take the lock or raise ``LockedError`` naming the process that holds it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockedError(self.path, _read_holder(self.path)) from None
        record = {
            "pid": os.getpid(),
            "command": " ".join(["tailsight", *sys.argv[1:2]]) if sys.argv else "tailsight",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "api_url": api_url,
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(record).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def current_holder(data_dir: Path) -> LockHolder | None:
    """The process holding ``data_dir`` now, or ``None`` when it is free."""
    path = data_dir / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(path) or LockHolder(pid=0, command="unknown", started="?")
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class LockedError(RuntimeError):
    """The data directory is held by another process."""

    def __init__(self, path: Path, holder: LockHolder | None) -> None:
        who = holder.describe() if holder else "another process"
        hint = f"; its API is at {holder.api_url}" if holder and holder.api_url else ""
        super().__init__(
            f"data directory {path.parent} is in use by {who}: lock {path} is held{hint}. "
            "The embedded store admits one process; stop that one or use --data-dir elsewhere."
        )
        self.path = path
        self.holder = holder
