"""Host-wide readings from procfs: CPU utilization, pressure stall (PSI) and TCP retransmits.

CPU utilization is the busy share between two readings of ``/proc/stat``, so the first
collection has none (an average since boot would hide any spike). PSI ``some avg10`` is
already a 10-second average kept by the kernel; kernels without PSI simply have no
``/proc/pressure``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from tailsight.collectors.base import CounterSet, Point
from tailsight.collectors.files import KeptFiles, read_once

log = logging.getLogger(__name__)

PRESSURE_RESOURCES = ("cpu", "memory", "io")


def parse_cpu_times(data: bytes | None) -> tuple[int, int] | None:
    """``(busy, total)`` jiffies of all CPUs from the ``cpu`` line of ``/proc/stat``'s bytes.

    Like every parser here it takes ``None`` (the file could not be read) and gives ``None``.
    """
    if data is None:
        return None
    fields = data[: data.find(b"\n")].split()
    if not fields or fields[0] != b"cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user/nice).
    try:
        values = [int(v) for v in fields[1:9]]
    except ValueError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values)
    return total - idle, total


def parse_pressure(data: bytes | None) -> float | None:
    """PSI ``some avg10`` from a ``/proc/pressure/<resource>`` file's bytes, as 0..1."""
    if data is None:
        return None
    for line in data.splitlines():
        if line.startswith(b"some "):
            for part in line.split()[1:]:
                key, _, value = part.partition(b"=")
                if key == b"avg10":
                    try:
                        return float(value) / 100.0
                    except ValueError:
                        return None
    return None


def parse_snmp(data: bytes | None, proto: str, field: str) -> int | None:
    """One field of ``/proc/net/snmp``'s bytes (a header line and a value line per protocol)."""
    if data is None:
        return None
    prefix = f"{proto}:".encode()
    rows = [line.split()[1:] for line in data.splitlines() if line.startswith(prefix)]
    name = field.encode()
    if len(rows) < 2 or name not in rows[0]:
        return None
    try:
        return int(rows[1][rows[0].index(name)])
    except (IndexError, ValueError):
        return None


def read_cpu_times(procfs_root: Path) -> tuple[int, int] | None:
    """``(busy, total)`` jiffies of all CPUs from ``/proc/stat``."""
    return parse_cpu_times(read_once(str(procfs_root / "stat")))


def read_pressure(procfs_root: Path, resource: str) -> float | None:
    """PSI ``some avg10`` of ``cpu``/``memory``/``io`` as 0..1, ``None`` without PSI."""
    return parse_pressure(read_once(str(procfs_root / "pressure" / resource)))


def read_snmp(procfs_root: Path, proto: str, field: str) -> int | None:
    """One field of ``/proc/net/snmp``."""
    return parse_snmp(read_once(str(procfs_root / "net" / "snmp")), proto, field)


class HostCollector:
    """CPU utilization, PSI and TCP retransmits of the whole host.

    Args:
        procfs_root: the directory mounted as ``/proc`` (the host's, on a containerised agent).
    """

    name = "host"

    def __init__(self, procfs_root: Path | str = "/proc") -> None:
        self.root = Path(procfs_root)
        self.counters = CounterSet(bits=64)
        self.files = KeptFiles()
        self._paths = {
            "stat": str(self.root / "stat"),
            "snmp": str(self.root / "net" / "snmp"),
            **{r: str(self.root / "pressure" / r) for r in PRESSURE_RESOURCES},
        }
        self._cpu: tuple[int, int] | None = None
        self.cpu_now: tuple[int, int] | None = None  # this interval's reading, for process CPU
        self._missing_logged = False

    def close(self) -> None:
        self.files.close()

    def collect(self) -> Iterator[Point]:
        read = self.files.read
        cpu = self.cpu_now = parse_cpu_times(read(self._paths["stat"]))
        if cpu is not None:
            last, self._cpu = self._cpu, cpu
            if last is not None and cpu[1] > last[1]:
                busy = (cpu[0] - last[0]) / (cpu[1] - last[1])
                yield Point("system.cpu.utilization", min(max(busy, 0.0), 1.0))
        have_psi = False
        for resource in PRESSURE_RESOURCES:
            value = parse_pressure(read(self._paths[resource]))
            if value is not None:
                have_psi = True
                yield Point(
                    "tailsight.host.pressure", value, {"tailsight.pressure.resource": resource}
                )
        if not have_psi and not self._missing_logged:
            self._missing_logged = True
            log.info("no pressure stall information under %s/pressure", self.root)
        retrans = parse_snmp(read(self._paths["snmp"]), "Tcp", "RetransSegs")
        if retrans is not None:
            yield Point("tailsight.tcp.retransmits", self.counters.update(("tcp",), retrans))
