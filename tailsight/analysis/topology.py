"""The data's own topology around one service: replicas, their GPUs, co-tenants and links.

Built from frames: replicas from span resources (``host.name``, ``process.pid``), GPUs
and their processes from ``tailsight.gpu.process.utilization`` series (or, without the
agent, the pods dcgm-exporter names: a tenant with a pod and no pid), NIC → switch port
links from ``tailsight.nic.link`` (or a host's interfaces alone, switch unknown).
Nothing is configured; what the telemetry does not show is not a candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Replica:
    """One serving process of a service."""

    host: str
    pid: str

    @property
    def id(self) -> str:
        return f"{self.host}/{self.pid}"


@dataclass(frozen=True)
class Tenant:
    """A process seen on a GPU, with its pod where known."""

    host: str
    hw_id: str
    pid: str
    pod: str = ""
    namespace: str = ""

    @property
    def entity(self) -> tuple[str, str]:
        """CONTRACT §4 culprit: the process; its pod where only the pod is known (dcgm-exporter)."""
        if self.pid or not self.pod:
            return "process", f"{self.host}/{self.pid}"
        return "pod", f"{self.namespace}/{self.pod}"


@dataclass(frozen=True)
class Link:
    """A host's NIC and the switch port at its other end."""

    host: str
    interface: str
    switch: str
    port: str

    @property
    def port_id(self) -> str:
        return f"{self.switch}/{self.port}"

    @property
    def nic_id(self) -> str:
        return f"{self.host}/{self.interface}"


@dataclass(frozen=True)
class Topology:
    """What surrounds one service's replicas."""

    service: str
    replicas: tuple[Replica, ...]
    gpus: dict[Replica, tuple[str, ...]]  # replica -> hw.ids it runs on
    tenants: dict[tuple[str, str], tuple[Tenant, ...]]  # (host, hw.id) -> processes on it
    links: tuple[Link, ...]

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(sorted({r.host for r in self.replicas}))

    def replicas_on_host(self, host: str) -> frozenset[Replica]:
        return frozenset(r for r in self.replicas if r.host == host)

    def replicas_on_gpu(self, host: str, hw_id: str) -> frozenset[Replica]:
        return frozenset(r for r, ids in self.gpus.items() if r.host == host and hw_id in ids)


def build_topology(
    service: str, replicas: pd.DataFrame, gpu_procs: pd.DataFrame, links: pd.DataFrame
) -> Topology:
    """The topology of ``service`` from replica windows, GPU-process and link frames."""
    mine = replicas[(replicas["service"] == service) & (replicas["requests"] > 0)]
    reps = tuple(
        sorted(
            {Replica(str(h), str(p)) for h, p in zip(mine["host"], mine["pid"], strict=True)},
            key=lambda r: (r.host, r.pid),
        )
    )
    hosts = {r.host for r in reps}
    tenants: dict[tuple[str, str], list[Tenant]] = {}
    for row in gpu_procs.itertuples(index=False):
        if row.host in hosts:
            tenants.setdefault((row.host, row.hw_id), []).append(
                Tenant(row.host, row.hw_id, str(row.pid), row.pod or "", row.namespace or "")
            )
    gpus = {
        r: tuple(
            sorted(
                gpu
                for (h, gpu), ts in tenants.items()
                if h == r.host and any(t.pid == r.pid for t in ts)
            )
        )
        for r in reps
    }
    # A host without LLDP links (no agent) keeps its NICs, with no switch port known.
    linked = {row.host for row in links.itertuples(index=False) if row.switch}
    link_rows = tuple(
        Link(row.host, row.interface, row.switch or "", row.port or "")
        for row in links.itertuples(index=False)
        if row.host in hosts and (row.switch or row.host not in linked)
    )
    return Topology(
        service,
        reps,
        gpus,
        {k: tuple(v) for k, v in tenants.items()},
        link_rows,
    )
