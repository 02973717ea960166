"""NIC counters: ``/sys/class/net/*/statistics`` and speed, PFC pauses from the driver's ethtool stats.

Counters are kept cumulative from the agent's start through :class:`CounterSet`, so a
driver reload (counters back to zero) is a reset, never a negative rate. RDMA counters
of the same NICs are in :mod:`tailsight.collectors.rdma`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from tailsight.collectors.base import CounterSet, Point
from tailsight.collectors.ethtool import EthtoolReader, IoctlEthtool, pfc_pause_frames

log = logging.getLogger(__name__)

# metric -> (receive file, transmit file) under statistics/
_STATS = {
    "system.network.io": ("rx_bytes", "tx_bytes"),
    "system.network.packet.count": ("rx_packets", "tx_packets"),
    "system.network.packet.dropped": ("rx_dropped", "tx_dropped"),
    "system.network.errors": ("rx_errors", "tx_errors"),
}


def read_int(path: Path) -> int | None:
    """An integer sysfs/procfs file, ``None`` when missing or unreadable (e.g. speed of a down link)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class NetCollector:
    """Interface counters and link speed from sysfs, PFC pause frames from the driver.

    Args:
        sysfs_root: the directory that holds ``class/net`` (``/sys`` on a host).
        ethtool: reader of the drivers' statistics; ``None`` skips PFC counters.
        include_loopback: also report ``lo`` (off by default: it carries no fabric traffic).
    """

    name = "net"

    def __init__(
        self,
        sysfs_root: Path | str = "/sys",
        ethtool: EthtoolReader | None = None,
        include_loopback: bool = False,
    ) -> None:
        self.root = Path(sysfs_root) / "class" / "net"
        self.ethtool: EthtoolReader | None = IoctlEthtool() if ethtool is None else ethtool
        self.include_loopback = include_loopback
        self.counters = CounterSet(bits=64)

    def interfaces(self) -> list[str]:
        try:
            names = sorted(p.name for p in self.root.iterdir())
        except OSError as exc:
            log.warning("cannot list %s: %s", self.root, exc.strerror)
            return []
        return [n for n in names if self.include_loopback or n != "lo"]

    def collect(self) -> Iterator[Point]:
        for iface in self.interfaces():
            base = self.root / iface
            stats = base / "statistics"
            for metric, files in _STATS.items():
                for direction, fname in zip(("receive", "transmit"), files, strict=True):
                    raw = read_int(stats / fname)
                    if raw is None:
                        continue
                    attrs = {"network.interface.name": iface, "network.io.direction": direction}
                    total = self.counters.update((metric, iface, direction), raw)
                    yield Point(metric, total, attrs)
            speed = read_int(base / "speed")
            if speed is not None and speed > 0:  # -1 or EINVAL: unknown or link down
                yield Point(
                    "tailsight.nic.speed", speed * 1_000_000, {"network.interface.name": iface}
                )
            # Only devices with hardware behind them have driver statistics worth asking for.
            if self.ethtool is not None and (base / "device").exists():
                yield from self._pfc(iface)

    def _pfc(self, iface: str) -> Iterator[Point]:
        assert self.ethtool is not None
        stats = self.ethtool.stats(iface)
        if not stats:
            return
        for (direction, prio), raw in sorted(pfc_pause_frames(stats).items()):
            total = self.counters.update(("pfc", iface, direction, prio), raw)
            yield Point(
                "tailsight.nic.pfc.pause_frames",
                total,
                {
                    "network.interface.name": iface,
                    "network.io.direction": direction,
                    "tailsight.pfc.priority": prio,
                },
            )
