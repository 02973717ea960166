"""RoCE congestion counters from ``/sys/class/infiniband/<dev>/ports/<n>/hw_counters``.

mlx5 exposes DCQCN's signals there: ``np_ecn_marked_roce_packets`` (packets that arrived
with ECN CE), ``np_cnp_sent`` (CNPs this notification point sent back),
``rp_cnp_handled`` (CNPs this reaction point acted on) and ``out_of_sequence``. Each RDMA
port is reported under the name of its Ethernet netdev, so NIC, RDMA and topology
metrics of one port join on ``network.interface.name``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from tailsight.collectors.base import CounterFile, CounterSet, Point
from tailsight.collectors.files import KeptFiles

log = logging.getLogger(__name__)

HW_COUNTERS = {
    "tailsight.rdma.ecn_marked": "np_ecn_marked_roce_packets",
    "tailsight.rdma.cnp.sent": "np_cnp_sent",
    "tailsight.rdma.cnp.handled": "rp_cnp_handled",
    "tailsight.rdma.out_of_sequence": "out_of_sequence",
}


def netdev_of(port: Path) -> str | None:
    """The Ethernet interface behind an RDMA port (RoCE), or ``None`` for InfiniBand links."""
    ndev = port / "gid_attrs" / "ndevs" / "0"
    try:
        name = ndev.read_text().strip()
        if name:
            return name
    except OSError:
        pass
    # Single-port devices list their netdev under the PCI device.
    try:
        nets = sorted(p.name for p in (port.parent.parent / "device" / "net").iterdir())
    except OSError:
        return None
    return nets[0] if len(nets) == 1 else None


class RdmaCollector:
    """ECN marks, CNPs and out-of-sequence packets per RDMA port.

    Args:
        sysfs_root: the directory that holds ``class/infiniband`` (``/sys`` on a host).
    """

    name = "rdma"

    def __init__(self, sysfs_root: Path | str = "/sys") -> None:
        self.root = Path(sysfs_root) / "class" / "infiniband"
        self.counters = CounterSet(bits=64)
        self._names: dict[Path, str] = {}
        self._files: dict[Path, list[CounterFile]] = {}
        self.files = KeptFiles()
        # The ports found under the devices listed last time; found again when the list of
        # devices changes or a counter cannot be read (a port went away).
        self._devices: list[str] | None = None
        self._ports: list[tuple[str, Path]] = []

    def ports(self) -> list[tuple[str, Path]]:
        """``(interface name, port directory)`` of every RDMA port; none when no RDMA device."""
        try:
            devices = sorted(os.listdir(self.root))
        except OSError:
            devices = []
        if devices != self._devices:
            self._devices = devices
            self._ports = self._find_ports(devices)
            for gone in set(self._files) - {port for _, port in self._ports}:
                del self._files[gone]  # a device removed (a VF, a driver reload): close its files
                self._names.pop(gone, None)
                self.files.forget(os.path.join(gone, "hw_counters") + os.sep)
        return self._ports

    def _find_ports(self, devices: list[str]) -> list[tuple[str, Path]]:
        out: list[tuple[str, Path]] = []
        for dev in (self.root / d for d in devices):
            try:
                ports = sorted((dev / "ports").iterdir())
            except OSError:
                continue
            for port in ports:
                name = self._names.get(port)
                if name is None:
                    name = self._names[port] = netdev_of(port) or f"{dev.name}/{port.name}"
                out.append((name, port))
        return out

    def close(self) -> None:
        self.files.close()

    def collect(self) -> Iterator[Point]:
        read = self.files.read_int
        for iface, port in self.ports():
            files = self._files.get(port)
            if files is None:
                hw = os.path.join(port, "hw_counters")
                named = {"network.interface.name": iface}
                files = self._files[port] = [
                    CounterFile(
                        metric,
                        os.path.join(hw, fname),
                        self.counters.counter((metric, iface)),
                        named,
                    )
                    for metric, fname in HW_COUNTERS.items()
                ]
            for f in files:
                raw = read(f.path)
                if raw is None:
                    if not os.path.isdir(port):
                        self._devices = None  # a port went away: look again next time
                    continue
                yield Point(f.metric, f.counter.update(raw), f.attributes)
