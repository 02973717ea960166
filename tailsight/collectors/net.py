"""NIC counters: ``/sys/class/net/*/statistics`` and speed, PFC pauses from the driver's ethtool stats.

Counters are kept cumulative from the agent's start through :class:`CounterSet`, so a
driver reload (counters back to zero) is a reset, never a negative rate. RDMA counters
of the same NICs are in :mod:`tailsight.collectors.rdma`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from tailsight.collectors.base import AttrValue, CounterFile, CounterSet, MonotonicCounter, Point
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
        # Per interface, built once: what to read and report (see _Plan); its PFC counters,
        # found among its driver's statistics on first read.
        self._plans: dict[str, _Plan] = {}
        self._pfc: dict[str, list[_PfcSeries]] = {}

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

    def _plan(self, iface: str) -> _Plan:
        plan = self._plans.get(iface)
        if plan is None:
            base = os.path.join(self.root, iface)
            counters = [
                CounterFile(
                    metric,
                    os.path.join(base, "statistics", fname),
                    self.counters.counter((metric, iface, direction)),
                    {"network.interface.name": iface, "network.io.direction": direction},
                )
                for metric, pair in _STATS.items()
                for direction, fname in zip(("receive", "transmit"), pair, strict=True)
            ]
            plan = self._plans[iface] = _Plan(
                counters,
                os.path.join(base, "speed"),
                {"network.interface.name": iface},
                # Only devices with hardware behind them have driver statistics worth asking for.
                os.path.exists(os.path.join(base, "device")),
            )
        return plan

    def collect(self) -> Iterator[Point]:
        interfaces = self.interfaces()
        for gone in set(self._plans) - set(interfaces):
            del self._plans[gone]
            self._pfc.pop(gone, None)
            self.files.forget(os.path.join(self.root, gone) + os.sep)
        read = self.files.read_int
        for iface in interfaces:
            plan = self._plan(iface)
            for f in plan.counters:
                raw = read(f.path)
                if raw is not None:
                    yield Point(f.metric, f.counter.update(raw), f.attributes)
            speed = read(plan.speed)
            if speed is not None and speed > 0:  # -1 or EINVAL: unknown or link down
                yield Point("tailsight.nic.speed", speed * 1_000_000, plan.speed_attrs)
            if plan.has_device:
                yield from self._pause_frames(iface)

    def close(self) -> None:
        self.files.close()

    def _pause_frames(self, iface: str) -> Iterator[Point]:
        stats = self.ethtool.stats(iface)
        if not stats:
            return
        series = self._pfc.get(iface)
        if series is None or any(n not in stats for s in series for n in s.names):
            series = self._pfc[iface] = self._pfc_series(iface, stats)
        for s in series:
            raw = 0
            for name in s.names:
                raw += stats[name]
            total = s.counter.update(raw)
            # Fabrics run PFC on one or two priorities; a priority whose driver counter has
            # never left zero stays unreported (a series of zeros per unused class x NIC
            # costs the agent more than all the rest).
            if raw or s.active:
                s.active = True
                yield Point("tailsight.nic.pfc.pause_frames", total, s.attrs)

    def _pfc_series(self, iface: str, stats: Mapping[str, int]) -> list[_PfcSeries]:
        names: dict[tuple[str, int], list[str]] = {}
        for name, key in pfc_stat_names(stats).items():
            names.setdefault(key, []).append(name)
        active = {s.key: s.active for s in self._pfc.get(iface, ())}
        return [
            _PfcSeries(
                (direction, prio),
                tuple(names[(direction, prio)]),
                self.counters.counter(("pfc", iface, direction, prio)),
                {
                    "network.interface.name": iface,
                    "network.io.direction": direction,
                    "tailsight.pfc.priority": prio,
                },
                active.get((direction, prio), False),
            )
            for direction, prio in sorted(names)
        ]


class _Plan(NamedTuple):
    """What to read of one interface."""

    counters: list[CounterFile]
    speed: str
    speed_attrs: dict[str, AttrValue]
    has_device: bool


class _PfcSeries:
    """One (direction, priority) of an interface: its driver stats, summed, and its counter."""

    __slots__ = ("key", "names", "counter", "attrs", "active")

    def __init__(
        self,
        key: tuple[str, int],
        names: tuple[str, ...],
        counter: MonotonicCounter,
        attrs: dict[str, AttrValue],
        active: bool,
    ) -> None:
        self.key = key
        self.names = names
        self.counter = counter
        self.attrs = attrs
        self.active = active
