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

from tailsight.collectors.base import CounterSet, Point
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
        self._files: dict[Path, list[tuple[str, str]]] = {}
        self.files = KeptFiles()

    def ports(self) -> list[tuple[str, Path]]:
        """``(interface name, port directory)`` of every RDMA port; none when no RDMA device."""
        out: list[tuple[str, Path]] = []
        try:
            devices = sorted(self.root.iterdir())
        except OSError:
            return out
        for dev in devices:
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
        ports = self.ports()
        for gone in set(self._files) - {port for _, port in ports}:
            del self._files[gone]  # a device removed (a VF, a driver reload): close its files
            self._names.pop(gone, None)
            self.files.forget(os.path.join(gone, "hw_counters") + os.sep)
        for iface, port in ports:
            files = self._files.get(port)
            if files is None:
                hw = os.path.join(port, "hw_counters")
                files = self._files[port] = [
                    (metric, os.path.join(hw, fname)) for metric, fname in HW_COUNTERS.items()
                ]
            for metric, path in files:
                raw = self.files.read_int(path)
                if raw is None:
                    continue
                total = self.counters.update((metric, iface), raw)
                yield Point(metric, total, {"network.interface.name": iface})
