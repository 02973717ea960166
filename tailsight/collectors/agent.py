"""The node agent: every node collector assembled, and the resource that places their metrics.

Resource: ``host.name`` is the configured host name, else ``NODE_NAME`` (what a
DaemonSet sets from ``spec.nodeName`` through the downward API), else the hostname.
Inside Kubernetes (``KUBERNETES_SERVICE_HOST`` set) ``k8s.node.name`` is added. The
agent's own pod is deliberately not named on the resource: its metrics describe the node
and the processes on it, and per-process pods are attributes of the process metrics.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailsight import __version__
from tailsight.collectors.base import AttrValue, Collector, Point
from tailsight.collectors.catalogue import METRICS
from tailsight.collectors.ethtool import EthtoolReader
from tailsight.collectors.net import NetCollector
from tailsight.collectors.nvml import NvmlCollector
from tailsight.collectors.otlp import collect_all
from tailsight.collectors.processes import PodDirectory, ProcessCpuCollector, ProcessDirectory
from tailsight.collectors.procfs import HostCollector
from tailsight.collectors.rdma import RdmaCollector
from tailsight.collectors.topology import TopologyCollector, load_topology, run_lldpctl

log = logging.getLogger(__name__)

# What the agent emits: every catalogue metric but the switch poller's.
NODE_METRICS = tuple(m.name for m in METRICS if m.source != "snmp")


@dataclass(frozen=True)
class AgentSources:
    """Where the agent reads: the host's trees, and the hardware readers (replays in tests)."""

    sysfs_root: Path = Path("/sys")
    procfs_root: Path = Path("/proc")
    pods_dir: Path = Path("/var/log/pods")
    topology_file: Path | None = None
    host_name: str = ""
    top_processes: int = 10
    nvml: Any = None  # the pynvml module or a replay; None imports pynvml
    ethtool: EthtoolReader | None = None  # None reads the ethtool ioctl
    lldp: bool = True  # run lldpctl when it is installed


def detect_resource(
    host_name: str | None = None, env: Mapping[str, str] | None = None
) -> dict[str, AttrValue]:
    """``host.name`` (+ ``k8s.node.name`` in Kubernetes) and the agent's service identity."""
    env = os.environ if env is None else env
    node = env.get("NODE_NAME") or None
    host = host_name or node or socket.gethostname()
    resource: dict[str, AttrValue] = {
        "host.name": host,
        "service.name": "tailsight-agent",
        "service.version": __version__,
    }
    if env.get("KUBERNETES_SERVICE_HOST"):
        resource["k8s.node.name"] = node or host
        if not (host_name or node):
            log.warning(
                "in Kubernetes without NODE_NAME: host.name is %s, which may be the pod's name; "
                "set NODE_NAME from spec.nodeName or --host-name",
                host,
            )
    return resource


class NodeAgent:
    """The collectors of one node, in the order they must run.

    The NVML collector finds the GPU pids and the host collector reads ``/proc/stat``
    before the process collector uses both.
    """

    def __init__(self, sources: AgentSources) -> None:
        self.sources = sources
        processes = ProcessDirectory(sources.procfs_root, PodDirectory(sources.pods_dir))
        self.nvml = NvmlCollector(sources.nvml, processes)
        links = (
            load_topology(sources.topology_file, sources.host_name) if sources.topology_file else []
        )
        lldp = run_lldpctl if sources.lldp and shutil.which("lldpctl") else None
        host = HostCollector(sources.procfs_root)
        self.collectors: list[Collector] = [
            self.nvml,
            NetCollector(sources.sysfs_root, sources.ethtool),
            RdmaCollector(sources.sysfs_root),
            host,
            ProcessCpuCollector(
                sources.procfs_root,
                gpu_pids=self.nvml.gpu_pids,
                processes=processes,
                top_n=sources.top_processes,
                host_cpu=lambda: host.cpu_now,
            ),
        ]
        if links or lldp is not None:
            self.collectors.append(TopologyCollector(links, lldp))

    def collect(self) -> list[Point]:
        return collect_all(self.collectors)

    def collect_once(self, settle_s: float) -> list[Point]:
        """A reading with rates: one collection to set the baselines, another ``settle_s`` later."""
        self.collect()
        time.sleep(settle_s)
        return self.collect()

    def close(self) -> None:
        for collector in self.collectors:  # the NVML collector among them
            close = getattr(collector, "close", None)
            if close is not None:
                close()
            close_ethtool = getattr(getattr(collector, "ethtool", None), "close", None)
            if close_ethtool is not None:
                close_ethtool()
