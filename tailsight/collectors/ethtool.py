"""A NIC driver's own statistics (what ``ethtool -S`` prints), read through the ethtool ioctl.

The agent reads them every interval, so it talks to the kernel directly (``SIOCETHTOOL``:
``ETHTOOL_GSSET_INFO`` for the count, ``ETHTOOL_GSTRINGS`` for the names, cached, and
``ETHTOOL_GSTATS`` for the values) instead of starting an ``ethtool`` process per
interface per second. :class:`RecordedEthtool` answers the same question from saved
``ethtool -S`` output, which is how tests replay a Mellanox NIC on a machine without one.
"""

from __future__ import annotations

import array
import fcntl
import logging
import os
import re
import socket
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from tailsight.collectors.files import KeptFiles

log = logging.getLogger(__name__)

SIOCETHTOOL = 0x8946
ETHTOOL_GSTRINGS = 0x1B
ETHTOOL_GSTATS = 0x1D
ETHTOOL_GSSET_INFO = 0x37
ETH_SS_STATS = 1
ETH_GSTRING_LEN = 32

# PFC pause counters per priority, by driver naming: mlx5, ice, bnxt_en.
_PFC = (
    re.compile(r"^(?P<dir>rx|tx)_prio(?P<prio>[0-7])_pause$"),
    re.compile(r"^(?P<dir>rx|tx)_priority_(?P<prio>[0-7])_xoff(\.nic)?$"),
    re.compile(r"^(?P<dir>rx|tx)_pfc_ena_frames_pri(?P<prio>[0-7])$"),
)


class EthtoolReader(Protocol):
    """Driver statistics of one interface, ``None`` when the driver has none or the read fails."""

    def stats(self, interface: str) -> Mapping[str, int] | None: ...


def parse_ethtool_stats(text: str) -> dict[str, int]:
    """``ethtool -S IFACE`` output → ``{name: value}``; lines that are not ``name: int`` are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, value = line.rpartition(":")
        if sep:
            try:
                number = int(value)  # int() takes the surrounding blanks itself
            except ValueError:
                continue
            name = name.strip()
            if name:
                out[name] = number
    return out


def pfc_stat_names(stats: Mapping[str, int]) -> dict[str, tuple[str, int]]:
    """The PFC pause counters among a driver's stat names: ``{name: (direction, priority)}``."""
    out: dict[str, tuple[str, int]] = {}
    for name in stats:
        for pattern in _PFC:
            match = pattern.match(name)
            if match:
                direction = "receive" if match["dir"] == "rx" else "transmit"
                out[name] = (direction, int(match["prio"]))
                break
    return out


def pfc_pause_frames(stats: Mapping[str, int]) -> dict[tuple[str, int], int]:
    """``{(direction, priority): frames}`` from a driver's statistics (receive/transmit)."""
    out: dict[tuple[str, int], int] = {}
    for name, key in pfc_stat_names(stats).items():
        out[key] = out.get(key, 0) + stats[name]
    return out


class RecordedEthtool:
    """Answers from saved ``ethtool -S`` output: ``<directory>/<interface>.txt``, one per interface.

    Like the ioctl reader it makes one system call per interface and read: each file is
    kept open and read again with ``pread`` (tests and benchmarks rewrite it in place as
    counters move), and parsed again only when it changed.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._files = KeptFiles()
        self._parsed: dict[str, tuple[bytes, dict[str, int]]] = {}

    def stats(self, interface: str) -> Mapping[str, int] | None:
        data = self._files.read(os.path.join(self.directory, f"{interface}.txt"), 16384)
        if data is None:
            return None
        cached = self._parsed.get(interface)
        if cached is None or cached[0] != data:
            cached = self._parsed[interface] = (data, parse_ethtool_stats(data.decode()))
        return cached[1]

    def close(self) -> None:
        self._files.close()


class IoctlEthtool:
    """Reads driver statistics with the ``SIOCETHTOOL`` ioctl; stat names are cached per interface."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._names: dict[str, list[str]] = {}
        self._failed: set[str] = set()

    def _ioctl(self, interface: str, buf: array.array) -> None:
        if self._sock is None:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        addr, _ = buf.buffer_info()
        ifreq = struct.pack("16sP", interface.encode()[:15], addr)
        fcntl.ioctl(self._sock.fileno(), SIOCETHTOOL, ifreq)

    def _count(self, interface: str) -> int:
        buf = array.array("B", struct.pack("IIQI", ETHTOOL_GSSET_INFO, 0, 1 << ETH_SS_STATS, 0))
        self._ioctl(interface, buf)
        _, _, mask, count = struct.unpack("IIQI", buf.tobytes())
        return int(count) if mask & (1 << ETH_SS_STATS) else 0

    def _strings(self, interface: str, count: int) -> list[str]:
        buf = array.array("B", struct.pack("III", ETHTOOL_GSTRINGS, ETH_SS_STATS, count))
        buf.extend(bytes(count * ETH_GSTRING_LEN))
        self._ioctl(interface, buf)
        raw = buf.tobytes()[12:]
        return [
            raw[i * ETH_GSTRING_LEN : (i + 1) * ETH_GSTRING_LEN].split(b"\0", 1)[0].decode()
            for i in range(count)
        ]

    def stats(self, interface: str) -> Mapping[str, int] | None:
        try:
            names = self._names.get(interface)
            if names is None:
                count = self._count(interface)
                names = self._names[interface] = self._strings(interface, count)
            buf = array.array("B", struct.pack("II", ETHTOOL_GSTATS, len(names)))
            buf.extend(bytes(8 * len(names)))
            self._ioctl(interface, buf)
            cmd, n = struct.unpack_from("II", buf)
            if n != len(names):
                # The driver changed its set (e.g. channels reconfigured): read the names again.
                self._names.pop(interface, None)
                return None
            values = struct.unpack_from(f"{n}Q", buf, 8)
        except OSError as exc:
            if interface not in self._failed:
                self._failed.add(interface)
                log.info("no ethtool statistics for %s (%s)", interface, exc.strerror or exc)
            self._names.pop(interface, None)
            return None
        return dict(zip(names, values, strict=True))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
