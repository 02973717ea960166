"""Kernel files read every interval, each kept open and read again with ``pread``.

sysfs attributes and procfs files (``/proc/stat``, ``/proc/<pid>/stat``,
``/proc/pressure/*``, ``/proc/net/snmp``) are rendered afresh by every read from offset
0, so an open descriptor gives the current content; keeping it saves the open and close
that cost more than the read itself (``bench/agent.py``). A read that fails (an interface
or port went away, a process exited, a down link's ``speed``) closes the descriptor, and
the file is opened again next time: a new process under a reused pid is read afresh.
Past ``max_open`` descriptors, files are opened per read.
"""

from __future__ import annotations

import os

_CHUNK = 4096


def read_once(path: str) -> bytes | None:
    """The whole file, opened and closed here; ``None`` when missing or unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def read_int(path: str) -> int | None:
    """An integer file opened per read; ``None`` when missing, unreadable or not an integer."""
    data = read_once(path)
    try:
        return None if data is None else int(data)
    except ValueError:
        return None


class KeptFiles:
    """Files read again and again through descriptors kept open (see the module docstring)."""

    def __init__(self, max_open: int = 1024) -> None:
        self.max_open = max_open
        self._fds: dict[str, int] = {}

    def _fd(self, path: str) -> int | None:
        """The file's kept descriptor, opened now if need be; ``None`` past ``max_open``."""
        fd = self._fds.get(path)
        if fd is None and len(self._fds) < self.max_open:
            fd = self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return fd

    def read(self, path: str, size: int = _CHUNK) -> bytes | None:
        """The file's content (all of it, however long); ``None`` when it cannot be read."""
        try:
            fd = self._fd(path)
            if fd is None:
                return read_once(path)
            data = os.pread(fd, size, 0)
            while len(data) % size == 0 and data:  # longer than one read: go on
                more = os.pread(fd, size, len(data))
                if not more:
                    break
                data += more
            return data
        except OSError:
            self._close(path)
            return None

    def read_int(self, path: str) -> int | None:
        """An integer file (a sysfs counter); ``None`` when unreadable or not an integer."""
        try:
            fd = self._fd(path)
            return read_int(path) if fd is None else int(os.pread(fd, 64, 0))
        except OSError:
            self._close(path)
            return None
        except ValueError:
            return None

    def forget(self, prefix: str) -> None:
        """Close the files under ``prefix`` (an interface, port or process that is gone)."""
        for path in [p for p in self._fds if p.startswith(prefix)]:
            self._close(path)

    def _close(self, path: str) -> None:
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for path in list(self._fds):
            self._close(path)

    def __len__(self) -> int:
        return len(self._fds)
