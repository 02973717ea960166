"""NIC counters: ``/sys/class/net/*/statistics`` and speed, PFC pauses from the driver's ethtool stats.

Counters are kept cumulative from the agent's start through :class:`CounterSet`, so a
driver reload (counters back to zero) is a reset, never a negative rate. RDMA counters
of the same NICs are in :mod:`tailsight.collectors.rdma`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from tailsight.collectors.base import CounterSet, Point
from tailsight.collectors.ethtool import EthtoolReader, IoctlEthtool, pfc_stat_names
from tailsight.collectors.files import KeptFiles

log = logging.getLogger(__name__)

# metric -> (receive file, transmit file) under statistics/
_STATS = {
    "system.network.io": ("rx_bytes", "tx_bytes"),
    "system.network.packet.count": ("rx_packets", "tx_packets"),
    "system.network.packet.dropped": ("rx_dropped", "tx_dropped"),
    "system.network.errors": ("rx_errors", "tx_errors"),
}


# Per-pod and overlay devices of container networking: hundreds on a busy Kubernetes node,
# none of them a fabric link. Their traffic is counted on the physical NIC anyway.
VIRTUAL_PREFIXES = (
    "veth",
    "cali",
    "lxc",
    "cilium",
    "flannel",
    "cni",
    "docker",
    "br-",
    "vxlan",
    "tunl",
    "kube-ipvs",
    "virbr",
    "genev_sys",
    "nodelocaldns",
)


class NetCollector:
    """Interface counters and link speed from sysfs, PFC pause frames from the driver.

    Args:
        sysfs_root: the directory that holds ``class/net`` (``/sys`` on a host).
        ethtool: reader of the drivers' statistics; ``None`` reads them by ioctl.
        include_loopback: also report ``lo`` (off by default: it carries no fabric traffic).
        exclude_prefixes: interface names to skip (container networking's virtual devices).
    """

    name = "net"

    def __init__(
        self,
        sysfs_root: Path | str = "/sys",
        ethtool: EthtoolReader | None = None,
        include_loopback: bool = False,
        exclude_prefixes: tuple[str, ...] = VIRTUAL_PREFIXES,
    ) -> None:
        self.root = os.path.join(sysfs_root, "class", "net")
        self.ethtool: EthtoolReader = IoctlEthtool() if ethtool is None else ethtool
        self.include_loopback = include_loopback
        self.exclude_prefixes = exclude_prefixes
        self.counters = CounterSet(bits=64)
        self.files = KeptFiles()
        # Per interface, built once: (metric, direction, file) to read, and whether it has a
        # device (driver statistics); the PFC stat names of its driver, found on first read.
        self._plans: dict[str, tuple[list[tuple[str, str, str]], bool]] = {}
        self._pfc_names: dict[str, dict[str, tuple[str, int]]] = {}
        self._pfc_active: set[tuple[str, str, str, int]] = set()

    def interfaces(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.root))
        except OSError as exc:
            log.warning("cannot list %s: %s", self.root, exc.strerror)
            return []
        return [
            n
            for n in names
            if (self.include_loopback or n != "lo") and not n.startswith(self.exclude_prefixes)
        ]

    def _plan(self, iface: str) -> tuple[list[tuple[str, str, str]], bool]:
        plan = self._plans.get(iface)
        if plan is None:
            base = os.path.join(self.root, iface)
            files = [
                (metric, direction, os.path.join(base, "statistics", fname))
                for metric, pair in _STATS.items()
                for direction, fname in zip(("receive", "transmit"), pair, strict=True)
            ]
            # Only devices with hardware behind them have driver statistics worth asking for.
            plan = self._plans[iface] = (files, os.path.exists(os.path.join(base, "device")))
        return plan

    def collect(self) -> Iterator[Point]:
        interfaces = self.interfaces()
        for gone in set(self._plans) - set(interfaces):
            del self._plans[gone]
            self.files.forget(os.path.join(self.root, gone) + os.sep)
        for iface in interfaces:
            files, has_device = self._plan(iface)
            for metric, direction, path in files:
                raw = self.files.read_int(path)
                if raw is None:
                    continue
                total = self.counters.update((metric, iface, direction), raw)
                attrs = {"network.interface.name": iface, "network.io.direction": direction}
                yield Point(metric, total, attrs)
            speed = self.files.read_int(os.path.join(self.root, iface, "speed"))
            if speed is not None and speed > 0:  # -1 or EINVAL: unknown or link down
                yield Point(
                    "tailsight.nic.speed", speed * 1_000_000, {"network.interface.name": iface}
                )
            if has_device:
                yield from self._pfc(iface)

    def close(self) -> None:
        self.files.close()

    def _pfc(self, iface: str) -> Iterator[Point]:
        stats = self.ethtool.stats(iface)
        if not stats:
            return
        names = self._pfc_names.get(iface)
        if names is None or any(n not in stats for n in names):
            names = self._pfc_names[iface] = pfc_stat_names(stats)
        totals: dict[tuple[str, int], int] = {}
        for name, prio_key in names.items():
            totals[prio_key] = totals.get(prio_key, 0) + stats[name]
        for (direction, prio), raw in sorted(totals.items()):
            key = ("pfc", iface, direction, prio)
            total = self.counters.update(key, raw)
            # Fabrics run PFC on one or two priorities; a priority whose driver counter has
            # never left zero stays unreported (a series of zeros per unused class x NIC
            # costs the agent more than all the rest).
            if raw == 0 and key not in self._pfc_active:
                continue
            self._pfc_active.add(key)
            yield Point(
                "tailsight.nic.pfc.pause_frames",
                total,
                {
                    "network.interface.name": iface,
                    "network.io.direction": direction,
                    "tailsight.pfc.priority": prio,
                },
            )
