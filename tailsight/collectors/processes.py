"""Who a process is (``process.executable.name``, ``k8s.pod.name``) and how much CPU it uses.

A pid is named by ``/proc/<pid>/comm`` (the kernel keeps 15 characters; a longer name is
taken from the ``exe`` link when that starts with them). Its pod comes from its cgroup:
kubelet puts every container under ``…/kubepods…/pod<UID>/…`` (cgroupfs driver) or
``…kubepods-<qos>-pod<UID_with_underscores>.slice/…`` (systemd driver). The pod's name
and namespace come from the kubelet's log directory ``/var/log/pods/<ns>_<name>_<UID>``,
which exists for every pod on the node and needs no API access; a pod whose directory
is not (yet) there is reported without ``k8s.pod.name``. On a containerised agent mount
the host's ``/proc`` and ``/var/log/pods`` and pass them as ``procfs_root`` and
``pods_dir`` (the agent must share the host's pid namespace to see GPU pids).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tailsight.collectors.base import AttrValue, Point
from tailsight.collectors.files import KeptFiles, read_once
from tailsight.collectors.procfs import parse_cpu_times

_POD_UID = re.compile(
    r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
)
_COMM_LEN = 15


@dataclass(frozen=True)
class ProcessInfo:
    """One process as the metrics name it."""

    pid: int
    name: str
    pod: str | None = None
    namespace: str | None = None

    def attributes(self) -> dict[str, AttrValue]:
        attrs: dict[str, AttrValue] = {
            "process.pid": self.pid,
            "process.executable.name": self.name,
        }
        if self.pod:
            attrs["k8s.pod.name"] = self.pod
        if self.namespace:
            attrs["k8s.namespace.name"] = self.namespace
        return attrs


def pod_uid_of(cgroup_text: str) -> str | None:
    """The pod UID in a ``/proc/<pid>/cgroup`` file, ``None`` outside Kubernetes."""
    for line in cgroup_text.splitlines():
        if "kubepods" in line:
            match = _POD_UID.search(line)
            if match:
                return match.group(1).replace("_", "-")
    return None


def parse_stat(data: bytes | None) -> tuple[int, int] | None:
    """``(starttime, utime + stime)`` in clock ticks from ``/proc/<pid>/stat``'s bytes."""
    if data is None:
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[19]), int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        return None


def read_stat(procfs_root: Path, pid: int) -> tuple[int, int] | None:
    """``(starttime, utime + stime)`` in clock ticks from ``/proc/<pid>/stat``."""
    return parse_stat(read_once(os.path.join(procfs_root, str(pid), "stat")))


class PodDirectory:
    """Pod UID → (namespace, name) from the kubelet's ``/var/log/pods`` directory names."""

    def __init__(self, pods_dir: Path | str = "/var/log/pods", refresh_s: float = 10.0) -> None:
        self.pods_dir = Path(pods_dir)
        self.refresh_s = refresh_s
        self._by_uid: dict[str, tuple[str, str]] = {}
        self._read_at = -1e18

    def lookup(self, uid: str) -> tuple[str, str] | None:
        found = self._by_uid.get(uid)
        if found is None and time.monotonic() - self._read_at > self.refresh_s:
            self._read()
            found = self._by_uid.get(uid)
        return found

    def _read(self) -> None:
        self._read_at = time.monotonic()
        try:
            names = [p.name for p in self.pods_dir.iterdir()]
        except OSError:
            return
        for name in names:
            # <namespace>_<pod>_<uid>: namespace and pod names cannot hold '_'.
            parts = name.split("_")
            if len(parts) == 3:
                self._by_uid[parts[2]] = (parts[0], parts[1])


class ProcessDirectory:
    """pid → :class:`ProcessInfo`, cached per process start so a reused pid is named anew.

    It also reads the processes' ``stat``: those read every interval (the GPU processes,
    the top CPU consumers) through descriptors kept open until the process exits.
    """

    def __init__(self, procfs_root: Path | str = "/proc", pods: PodDirectory | None = None) -> None:
        self.root = Path(procfs_root)
        self.pods = pods if pods is not None else PodDirectory()
        self._cache: dict[int, tuple[int, ProcessInfo]] = {}
        self._stats = KeptFiles()
        self._stat_paths: dict[int, str] = {}

    def stat(self, pid: int, keep: bool = True) -> tuple[int, int] | None:
        """``(starttime, utime + stime)`` of ``pid``; ``keep``: its file stays open for next time."""
        path = self._stat_paths.get(pid)
        if path is None:
            path = os.path.join(self.root, str(pid), "stat")
            if not keep:
                return parse_stat(read_once(path))
            self._stat_paths[pid] = path
        data = self._stats.read(path, 1024)
        if data is None:  # exited: a later process under this pid is opened afresh
            del self._stat_paths[pid]
            return None
        return parse_stat(data)

    def info(self, pid: int, starttime: int | None = None) -> ProcessInfo:
        if starttime is None:
            stat = self.stat(pid)
            starttime = stat[0] if stat else -1
        cached = self._cache.get(pid)
        if cached is not None and cached[0] == starttime:
            return cached[1]
        info = self._read(pid)
        # Only cache what was found: a pid not visible yet may appear (container start).
        if info.name != "unknown":
            self._cache[pid] = (starttime, info)
        return info

    def _read(self, pid: int) -> ProcessInfo:
        base = self.root / str(pid)
        try:
            name = (base / "comm").read_text().strip()
        except OSError:
            return ProcessInfo(pid, "unknown")
        if len(name) >= _COMM_LEN:
            try:
                exe = os.path.basename(os.readlink(base / "exe")).removesuffix(" (deleted)")
                if exe.startswith(name):
                    name = exe
            except OSError:
                pass
        try:
            uid = pod_uid_of((base / "cgroup").read_text())
        except OSError:
            uid = None
        found = self.pods.lookup(uid) if uid else None
        if found is None:
            return ProcessInfo(pid, name)
        return ProcessInfo(pid, name, pod=found[1], namespace=found[0])

    def forget_exited(self, alive: Iterable[int]) -> None:
        keep = set(alive)
        for pid in [p for p in self._cache if p not in keep]:
            del self._cache[pid]
        self.keep_open(keep)

    def keep_open(self, pids: Iterable[int]) -> None:
        """Close the ``stat`` files of every process but ``pids``."""
        keep = set(pids)
        for pid in [p for p in self._stat_paths if p not in keep]:
            self._stats.forget(self._stat_paths.pop(pid))

    def close(self) -> None:
        self._stats.close()
        self._stat_paths.clear()


class ProcessCpuCollector:
    """CPU share of the processes on GPUs and of the top CPU consumers, as 0..1 of the host.

    Reading every ``/proc/<pid>/stat`` each second would cost more than the rest of the
    agent, so all processes are scanned every ``scan_every`` collections to pick the
    ``top_n`` busiest; in between only those and the GPU processes are read.

    Args:
        procfs_root: the host's ``/proc``.
        gpu_pids: the pids using GPUs right now (from the NVML collector).
        processes: names pids; shared with the NVML collector.
        top_n: how many of the busiest processes to report besides the GPU ones.
        scan_every: collections between full scans of ``/proc``.
        host_cpu: this interval's ``(busy, total)`` host jiffies when another collector
            already read ``/proc/stat`` (rendering it costs the kernel more on a big host
            than the rest of this collector); ``None`` reads it here.
    """

    name = "processes"

    def __init__(
        self,
        procfs_root: Path | str = "/proc",
        gpu_pids: Callable[[], Iterable[int]] = lambda: (),
        processes: ProcessDirectory | None = None,
        top_n: int = 10,
        scan_every: int = 10,
        host_cpu: Callable[[], tuple[int, int] | None] | None = None,
    ) -> None:
        self.root = Path(procfs_root)
        self.host_cpu = host_cpu
        self.gpu_pids = gpu_pids
        self.processes = processes if processes is not None else ProcessDirectory(self.root)
        self.top_n = top_n
        self.scan_every = max(1, scan_every)
        self._files = KeptFiles()
        self._stat_path = os.path.join(self.root, "stat")
        self._cycle = 0
        self._top: set[int] = set()
        # pid -> (starttime, cpu ticks, host ticks at that reading)
        self._last: dict[int, tuple[int, int, int]] = {}

    def _all_pids(self) -> list[int]:
        try:
            return [int(p.name) for p in self.root.iterdir() if p.name.isdigit()]
        except OSError:
            return []

    def close(self) -> None:
        self._files.close()
        self.processes.close()

    def collect(self) -> Iterator[Point]:
        if self.host_cpu is not None:
            cpu = self.host_cpu()
        else:
            cpu = parse_cpu_times(self._files.read(self._stat_path))
        if cpu is None:
            return
        host_total = cpu[1]
        cycle, self._cycle = self._cycle, self._cycle + 1
        scan = cycle <= 1 or (cycle - 1) % self.scan_every == 0
        gpu = set(self.gpu_pids())
        pids = self._all_pids() if scan else sorted(gpu | self._top)
        shares: dict[int, float] = {}
        starts: dict[int, int] = {}
        for pid in pids:
            # Between scans the same few pids are read every interval: kept open.
            stat = self.processes.stat(pid, keep=not scan or pid in gpu or pid in self._top)
            if not stat:
                self._last.pop(pid, None)
                continue
            start, ticks = stat
            starts[pid] = start
            last = self._last.get(pid)
            self._last[pid] = (start, ticks, host_total)
            if last is not None and last[0] == start and host_total > last[2]:
                shares[pid] = max(0.0, (ticks - last[1]) / (host_total - last[2]))
        if scan:
            gone = set(self._last) - set(starts)
            for pid in gone:
                del self._last[pid]
            self.processes.forget_exited(starts)
            busy = sorted((s, p) for p, s in shares.items() if s > 0)
            self._top = {p for _, p in busy[-self.top_n :]} if self.top_n > 0 else set()
            self.processes.keep_open(gpu | self._top)
        for pid in sorted((gpu | self._top) & set(shares)):
            info = self.processes.info(pid, starts[pid])
            yield Point("tailsight.process.cpu.utilization", shares[pid], info.attributes())
