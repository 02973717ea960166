"""The replayed busy GPU node that ``bench/agent.py`` measures the agent on.

8 GPUs replayed from ``tests/collectors/fixtures/gpu-node/nvml.json`` and 16 interfaces
(eno1 + 15 mlx5 RoCE ports with RDMA counters and ethtool stats) built from the same
fixture, on tmpfs; :class:`Mover` moves its counters between cycles as a loaded node's
move, :class:`SteppedClock` steps wall time one interval per cycle, and
:func:`bare_reader` reads the same sources without building anything (the benchmark's
reference).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tailsight.collectors.agent import AgentSources  # noqa: E402
from tailsight.collectors.ethtool import RecordedEthtool  # noqa: E402
from tailsight.collectors.nvml import (  # noqa: E402
    NVML_CLOCK_SM,
    NVML_FI_DEV_PCIE_COUNT_RX_BYTES,
    NVML_FI_DEV_PCIE_COUNT_TX_BYTES,
)
from tailsight.collectors.nvml_replay import NvmlReplay  # noqa: E402

FIXTURE = REPO / "tests" / "collectors" / "fixtures" / "gpu-node"
INTERFACES = 16
# The replayed trees live in memory, as sysfs and procfs do (tmpfs where there is one): a
# pread of a file on a disk file system just rewritten by the mover costs ~1.9 us here,
# of a real sysfs counter 0.76 us, of a tmpfs file 0.47 us.
MEMORY_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None


def build_node(dest: Path) -> Path:
    """The fixture node with its mlx5 ports cloned up to 16 interfaces in all (lo aside)."""
    node = dest / "node"
    shutil.copytree(FIXTURE, node)
    net, ib = node / "sys/class/net", node / "sys/class/infiniband"
    have = len([p for p in net.iterdir() if p.name != "lo"])
    for k in range(9, 9 + INTERFACES - have):
        shutil.copytree(net / "ens8np0", net / f"ens{k}np0")
        port = ib / f"mlx5_{k - 1}"
        shutil.copytree(ib / "mlx5_7", port)
        (port / "ports/1/gid_attrs/ndevs/0").write_text(f"ens{k}np0\n")
        shutil.copy(node / "ethtool/ens8np0.txt", node / f"ethtool/ens{k}np0.txt")
    assert len([p for p in net.iterdir() if p.name != "lo"]) == INTERFACES
    return node


class Mover:
    """Moves the node's counters between cycles, as on a busy node with 4 congested RoCE ports."""

    CONGESTED = 4

    def __init__(self, node: Path) -> None:
        net = node / "sys/class/net"
        self.files: list[tuple[Path, int]] = []
        for iface in sorted(p for p in net.iterdir() if p.name != "lo"):
            for name, step in (("bytes", 1_250_000_000), ("packets", 300_000)):
                for d in ("rx", "tx"):
                    self.files.append((iface / f"statistics/{d}_{name}", step))
        ports = sorted((node / "sys/class/infiniband").glob("*/ports/*"))[: self.CONGESTED]
        for port in ports:
            for c in ("np_ecn_marked_roce_packets", "np_cnp_sent", "rp_cnp_handled"):
                self.files.append((port / "hw_counters" / c, 1_500))
        self.snmp = node / "proc/net/snmp"
        # Host and process CPU move too: every pid's utime and stime, and the host's
        # ``cpu`` line (16 CPUs at 80% busy), so host and per-process CPU are reported.
        self.stat = node / "proc/stat"
        self.pid_stats = sorted((node / "proc").glob("[0-9]*/stat"))
        self.ethtool = sorted(p for p in (node / "ethtool").iterdir() if p.stem != "lo")
        self.ethtool = self.ethtool[: self.CONGESTED]
        self.step = 0

    def __call__(self) -> None:
        self.step += 1
        for path, step in self.files:
            path.write_text(f"{int(path.read_text()) + step}\n")
        lines = self.snmp.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("Tcp:") and i and lines[i - 1].startswith("Tcp:"):
                head, values = lines[i - 1].split(), line.split()
                k = head.index("RetransSegs")
                values[k] = str(int(values[k]) + 3)
                lines[i] = " ".join(values)
        self.snmp.write_text("\n".join(lines) + "\n")
        head, _, rest = self.stat.read_text().partition("\n")
        cpu = head.split()
        for k, step in ((1, 1_200), (3, 320)):  # user, idle: 1,600 jiffies a second in all
            cpu[k] = str(int(cpu[k]) + step)
        self.stat.write_text(" ".join(cpu) + "\n" + rest)
        for n, path in enumerate(self.pid_stats):
            text = path.read_text()
            cut = text.rfind(")") + 2
            fields = text[cut:].split()
            fields[11] = str(int(fields[11]) + 20 + 10 * n)  # utime, after state at 0
            fields[12] = str(int(fields[12]) + 3)  # stime
            path.write_text(text[:cut] + " ".join(fields) + "\n")
        for path in self.ethtool:
            out = []
            for line in path.read_text().splitlines():
                name, _, value = line.partition(":")
                if name.strip() in ("rx_prio3_pause", "tx_prio3_pause"):
                    line = f"{name}: {int(value) + 40}"
                out.append(line)
            path.write_text("\n".join(out) + "\n")


class SteppedClock:
    """Wall-clock seconds one interval apart per cycle, starting mid-window."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.3

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += 1.0


def sources(node: Path) -> AgentSources:
    return AgentSources(
        sysfs_root=node / "sys",
        procfs_root=node / "proc",
        pods_dir=node / "var/log/pods",
        host_name="bench",
        nvml=NvmlReplay.load(node / "nvml.json"),
        ethtool=RecordedEthtool(node / "ethtool"),
        lldp=False,
    )


def bare_reader(node: Path) -> Callable[[], None]:
    """Reads what the collectors read, the same way, and builds nothing from it."""
    nv: Any = NvmlReplay.load(node / "nvml.json")
    nv.nvmlInit()
    handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]
    events = nv.nvmlEventSetCreate()
    for h in handles:
        nv.nvmlDeviceRegisterEvents(h, 8, events)
    net = node / "sys/class/net"
    files = []
    for iface in sorted(net.iterdir()):
        if iface.name == "lo":
            continue
        for s in ("bytes", "packets", "dropped", "errors"):
            files += [iface / f"statistics/rx_{s}", iface / f"statistics/tx_{s}"]
        files.append(iface / "speed")
    for port in sorted((node / "sys/class/infiniband").glob("*/ports/*")):
        for c in ("np_ecn_marked_roce_packets", "np_cnp_sent", "rp_cnp_handled", "out_of_sequence"):
            files.append(port / "hw_counters" / c)
    proc = node / "proc"
    files += [proc / "stat", proc / "net/snmp"] + [
        proc / "pressure" / r for r in ("cpu", "memory", "io")
    ]
    gpu_pids = [4100, 4101, 4102, 4103, 4104, 4107, 5200, 6100, 6101]
    files += [proc / str(pid) / "stat" for pid in gpu_pids]
    ethtool = [p for p in sorted((node / "ethtool").iterdir()) if p.stem != "lo"]
    last_ts = [0] * len(handles)

    def read() -> None:
        for f in files:
            f.read_text()
        for f in ethtool:
            f.read_text()
        try:
            while True:
                nv.nvmlEventSetWait_v2(events, 0)
        except nv.NVMLError:
            pass
        for i, h in enumerate(handles):
            for call, args in (
                ("nvmlDeviceGetUtilizationRates", ()),
                ("nvmlDeviceGetMemoryInfo", ()),
                (
                    "nvmlDeviceGetFieldValues",
                    ([NVML_FI_DEV_PCIE_COUNT_RX_BYTES, NVML_FI_DEV_PCIE_COUNT_TX_BYTES],),
                ),
                ("nvmlDeviceGetPowerUsage", ()),
                ("nvmlDeviceGetTotalEccErrors", (1, 0)),
                ("nvmlDeviceGetTotalEccErrors", (0, 0)),
                ("nvmlDeviceGetClockInfo", (NVML_CLOCK_SM,)),
                ("nvmlDeviceGetCurrentClocksEventReasons", ()),
                ("nvmlDeviceGetComputeRunningProcesses", ()),
            ):
                try:
                    getattr(nv, call)(h, *args)
                except nv.NVMLError:
                    pass
            try:
                samples = nv.nvmlDeviceGetProcessUtilization(h, last_ts[i])
                last_ts[i] = max(s.timeStamp for s in samples)
            except nv.NVMLError:
                pass
            if i == 7:  # no PCIe counters there: the collector reads throughput instead
                nv.nvmlDeviceGetPcieThroughput(h, 0)
                nv.nvmlDeviceGetPcieThroughput(h, 1)

    return read
