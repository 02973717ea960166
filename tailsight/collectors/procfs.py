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

log = logging.getLogger(__name__)

PRESSURE_RESOURCES = ("cpu", "memory", "io")


def read_cpu_times(procfs_root: Path) -> tuple[int, int] | None:
    """``(busy, total)`` jiffies of all CPUs from the ``cpu`` line of ``/proc/stat``."""
    try:
        with (procfs_root / "stat").open() as f:
            line = f.readline()
    except OSError:
        return None
    fields = line.split()
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user/nice).
    values = [int(v) for v in fields[1:9]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values)
    return total - idle, total


def read_pressure(procfs_root: Path, resource: str) -> float | None:
    """PSI ``some avg10`` of ``cpu``/``memory``/``io`` as 0..1, ``None`` without PSI."""
    try:
        text = (procfs_root / "pressure" / resource).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("some "):
            for part in line.split()[1:]:
                key, _, value = part.partition("=")
                if key == "avg10":
                    return float(value) / 100.0
    return None


def read_snmp(procfs_root: Path, proto: str, field: str) -> int | None:
    """One field of ``/proc/net/snmp`` (header line and value line per protocol)."""
    try:
        lines = (procfs_root / "net" / "snmp").read_text().splitlines()
    except OSError:
        return None
    prefix = f"{proto}:"
    rows = [line.split()[1:] for line in lines if line.startswith(prefix)]
    if len(rows) < 2 or field not in rows[0]:
        return None
    try:
        return int(rows[1][rows[0].index(field)])
    except (IndexError, ValueError):
        return None


class HostCollector:
    """CPU utilization, PSI and TCP retransmits of the whole host.

    Args:
        procfs_root: the directory mounted as ``/proc`` (the host's, on a containerised agent).
    """

    name = "host"

    def __init__(self, procfs_root: Path | str = "/proc") -> None:
        self.root = Path(procfs_root)
        self.counters = CounterSet(bits=64)
        self._cpu: tuple[int, int] | None = None
        self._missing_logged = False

    def collect(self) -> Iterator[Point]:
        cpu = read_cpu_times(self.root)
        if cpu is not None:
            last, self._cpu = self._cpu, cpu
            if last is not None and cpu[1] > last[1]:
                busy = (cpu[0] - last[0]) / (cpu[1] - last[1])
                yield Point("system.cpu.utilization", min(max(busy, 0.0), 1.0))
        have_psi = False
        for resource in PRESSURE_RESOURCES:
            value = read_pressure(self.root, resource)
            if value is not None:
                have_psi = True
                yield Point(
                    "tailsight.host.pressure", value, {"tailsight.pressure.resource": resource}
                )
        if not have_psi and not self._missing_logged:
            self._missing_logged = True
            log.info("no pressure stall information under %s/pressure", self.root)
        retrans = read_snmp(self.root, "Tcp", "RetransSegs")
        if retrans is not None:
            yield Point("tailsight.tcp.retransmits", self.counters.update(("tcp",), retrans))
