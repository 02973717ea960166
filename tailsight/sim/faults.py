"""Faults with ground truth: what is wrong, where, when, and which services it hurts.

A :class:`Fault` names its ``kind`` and ``target`` (a switch port id, a GPU uuid, a host
or a service); the engine turns its ``level(t)`` (0..intensity, with linear ramps) into
state. :func:`truth` states what the analysis should find: the CONTRACT §4 cause kind,
the culprit entity, other entity ids that are equally right, and the affected services.
Distractor kinds change telemetry but hurt no service; their truth has no cause.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tailsight.model import iso
from tailsight.sim.fleet import Fleet, new_pid
from tailsight.sim.llm import LLM_SERVICES

POD_NAMESPACE = "inference"  # the simulator's k8s.namespace.name (sim.telemetry)
NEIGHBOR_NAMESPACE = "batch"  # where an injected neighbor's pod runs (sim.prometheus)


def neighbor_pod_name(pid: int, executable: str) -> str:
    """The pod of an injected neighbor process, as dcgm-exporter names it (no pids there)."""
    return f"{executable}-{pid:x}"

# fault kind -> CONTRACT §4 cause kind (None: a distractor that must not be blamed)
KINDS: dict[str, str | None] = {
    "port_congestion": "network_congestion",
    "gpu_noisy_neighbor": "noisy_neighbor",
    "cpu_noisy_neighbor": "noisy_neighbor",
    "gpu_underutilized": "gpu_underutilized",
    "load_surge": "load_surge",
    "cpu_saturation": "cpu_saturation",
    "call_delay": "network_congestion",
    "nic_congestion": "network_congestion",
    "idle_port_congestion": None,
    "idle_gpu_neighbor": None,
    "gpu_dip": None,
    # Generative services only (sim.llm): KV-cache pressure makes requests queue, so
    # time to first token rises: the service saturated by its own load (its tokens, at
    # an unchanged request rate). Longer outputs lengthen requests, not their TTFT/TPOT.
    "kv_cache_pressure": "load_surge",
    "long_output_burst": None,
}
# Kinds that need a generative service; kept out of the random corpus so its seeds stay as they were.
LLM_KINDS = ("kv_cache_pressure", "long_output_burst")
INCIDENT_KINDS = tuple(k for k, v in KINDS.items() if v and k not in LLM_KINDS)
DISTRACTOR_KINDS = tuple(k for k, v in KINDS.items() if not v and k not in LLM_KINDS)

# Metrics each kind moves (CONTRACT §3 names), for tests and for the truth file's readers.
SIGNALS: dict[str, tuple[str, ...]] = {
    "port_congestion": (
        "tailsight.switch.port.io",
        "tailsight.switch.port.ecn_marked",
        "tailsight.switch.port.discards",
        "tailsight.switch.port.pfc.pause_frames",
        "system.network.io",
        "system.network.packet.count",
        "system.network.packet.dropped",
        "tailsight.rdma.ecn_marked",
        "tailsight.rdma.cnp.sent",
        "tailsight.rdma.cnp.handled",
        "tailsight.rdma.out_of_sequence",
        "tailsight.nic.pfc.pause_frames",
        "tailsight.tcp.retransmits",
    ),
    "gpu_noisy_neighbor": (
        "hw.gpu.utilization",
        "tailsight.gpu.process.utilization",
        "tailsight.gpu.process.memory.usage",
        "hw.gpu.memory.usage",
        "hw.power",
        "tailsight.gpu.sm_clock",
        "tailsight.gpu.throttle",
    ),
    "cpu_noisy_neighbor": (
        "system.cpu.utilization",
        "tailsight.host.pressure",
        "tailsight.process.cpu.utilization",
    ),
    "gpu_underutilized": (
        "hw.gpu.utilization",
        "tailsight.gpu.process.utilization",
        "hw.power",
        "tailsight.process.cpu.utilization",
    ),
    "load_surge": (
        "hw.gpu.utilization",
        "tailsight.gpu.process.utilization",
        "hw.power",
        "system.network.io",
        "system.network.packet.count",
        "tailsight.switch.port.io",
        "system.cpu.utilization",
        "tailsight.process.cpu.utilization",
    ),
    "cpu_saturation": (
        "system.cpu.utilization",
        "tailsight.host.pressure",
        "tailsight.process.cpu.utilization",
    ),
    # The host side of a link: its NIC cannot absorb what arrives and pauses the switch port.
    "nic_congestion": (
        "tailsight.nic.pfc.pause_frames",
        "system.network.packet.dropped",
        "tailsight.rdma.out_of_sequence",
        "tailsight.switch.port.pfc.pause_frames",
        "tailsight.tcp.retransmits",
    ),
    # Delay on the wire to one pod: only traces show it (client span grows, server does not).
    "call_delay": (),
    # A port no service uses: the same signature (at a training node's NIC, if any).
    "idle_port_congestion": (),
    "idle_gpu_neighbor": (
        "hw.gpu.utilization",
        "tailsight.gpu.process.utilization",
        "tailsight.gpu.process.memory.usage",
        "hw.gpu.memory.usage",
        "hw.power",
    ),
    "gpu_dip": ("hw.gpu.utilization", "tailsight.gpu.process.utilization", "hw.power"),
}
SIGNALS["idle_port_congestion"] = SIGNALS["port_congestion"]
# Only the request spans' gen_ai.latency.* attributes and token counts move.
SIGNALS["kv_cache_pressure"] = ()
SIGNALS["long_output_burst"] = ()


@dataclass(frozen=True)
class Fault:
    """One injected fault.

    ``start``/``end`` are unix seconds; the level ramps linearly from 0 to ``intensity``
    over ``ramp_s`` after ``start`` and back down before ``end``. ``target`` is a switch
    port id (``*_congestion``), a GPU uuid (``gpu_*``, ``idle_gpu_neighbor``), a host
    (``cpu_noisy_neighbor``, ``cpu_saturation``) or a service (``load_surge``, and the
    generative-service kinds ``kv_cache_pressure`` and ``long_output_burst``). ``pid``
    and ``executable`` name the intruding process of the neighbor kinds, or the serving
    process that runs short of CPU (``cpu_saturation``: its own work spins up to the
    node's cores, e.g. a tokenizer pool misconfigured to more threads than it may use); ``sources`` the hosts whose
    traffic congests a port.
    """

    id: str
    kind: str
    start: float
    end: float
    target: str
    intensity: float = 1.0
    ramp_s: float = 30.0
    pid: int | None = None
    executable: str | None = None
    sources: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"fault {self.id}: unknown kind {self.kind!r}; known: {', '.join(KINDS)}"
            )
        if self.end <= self.start:
            raise ValueError(f"fault {self.id}: end must be after start")

    def level(self, t: float) -> float:
        """The fault's strength at ``t``: 0 outside, ``intensity`` at full, linear ramps."""
        if t < self.start or t >= self.end:
            return 0.0
        ramp = max(self.ramp_s, 1e-9)
        rise = min(1.0, (t - self.start) / ramp, (self.end - t) / ramp)
        return self.intensity * max(0.0, rise)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "start": iso(from_unix(self.start)),
            "end": iso(from_unix(self.end)),
            "target": self.target,
            "intensity": self.intensity,
            "ramp_s": self.ramp_s,
        }
        if self.pid is not None:
            out["pid"] = self.pid
        if self.executable:
            out["executable"] = self.executable
        if self.sources:
            out["sources"] = list(self.sources)
        return out


def from_unix(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _gpu_host(fleet: Fleet, uuid: str) -> str:
    gpu = fleet.gpus.get(uuid)
    if gpu is None:
        raise ValueError(f"unknown GPU {uuid!r}")
    return gpu.host


def callers(fleet: Fleet, services: set[str]) -> set[str]:
    """Services that call any of ``services`` downstream (their traces include them)."""
    return {
        p.name
        for p in fleet.profiles.values()
        if p.name in {r.service for r in fleet.replicas} and set(p.calls) & services
    }


def truth(fault: Fault, fleet: Fleet) -> dict[str, Any]:
    """Ground truth of one fault as JSON (see the package docstring for the format)."""
    cause = KINDS[fault.kind]
    entity: dict[str, str] | None = None
    accepted: list[dict[str, str]] = []
    affected: set[str] = set()
    k = fault.kind
    if k == "port_congestion":
        entity = {"type": "switch_port", "id": fault.target}
        nic = fleet.nic_of_port(fault.target)
        if nic is not None:
            accepted.append({"type": "nic", "id": nic.id})
        affected = fleet.services_on_port(fault.target)
    elif k == "gpu_noisy_neighbor":
        host = _gpu_host(fleet, fault.target)
        entity = {"type": "process", "id": f"{host}/{fault.pid}"}
        if fault.pid is not None:  # its pod: all that dcgm-exporter shows of it
            pod = neighbor_pod_name(fault.pid, fault.executable or "python3")
            accepted.append({"type": "pod", "id": f"{NEIGHBOR_NAMESPACE}/{pod}"})
        affected = {r.service for r in fleet.replicas if r.gpu == fault.target}
    elif k == "cpu_noisy_neighbor":
        entity = {"type": "process", "id": f"{fault.target}/{fault.pid}"}
        accepted.append({"type": "host", "id": fault.target})
        affected = {r.service for r in fleet.replicas if r.host == fault.target}
    elif k == "gpu_underutilized":
        host = _gpu_host(fleet, fault.target)
        entity = {"type": "gpu", "id": f"{host}/{fault.target}"}
        accepted.append({"type": "host", "id": host})  # CONTRACT §4: gpu or host
        affected = {r.service for r in fleet.replicas if r.gpu == fault.target}
    elif k in ("load_surge", "kv_cache_pressure"):
        entity = {"type": "service", "id": fault.target}
        affected = {fault.target}
    elif k == "nic_congestion":
        nic = fleet.nics[fault.target]
        entity = {"type": "nic", "id": nic.id}  # not its switch port: that one is paused
        affected = {r.service for r in fleet.replicas if r.host == nic.host}
    elif k == "call_delay":
        callee = next(r for r in fleet.replicas if r.pid == fault.pid)
        entity = {"type": "pod", "id": f"{POD_NAMESPACE}/{callee.service}-{callee.pid:x}"}
        accepted.append({"type": "service", "id": callee.service})
        affected = callers(fleet, {callee.service})
    elif k == "cpu_saturation":
        entity = {"type": "process", "id": f"{fault.target}/{fault.pid}"}
        affected = {r.service for r in fleet.replicas if r.host == fault.target}
    out: dict[str, Any] = fault.to_dict()
    out.update(
        {
            "cause_kind": cause,
            "distractor": cause is None,
            "culprit": entity,
            "accepted": accepted,
            "affected_services": sorted(affected),
            "upstream_services": sorted(callers(fleet, affected) - affected),
            "signals": list(SIGNALS[k]),
        }
    )
    return out


def random_fault(
    kind: str, fleet: Fleet, rng: random.Random, start: float, duration: float, fid: str
) -> Fault:
    """A fault of ``kind`` on a suitable random target of ``fleet``."""
    start = float(round(start))
    end = start + round(duration)
    ramp = rng.choice((10.0, 30.0, 60.0, 120.0))
    ramp = min(ramp, duration / 3)
    base = Fault(fid, kind, start, end, "", round(rng.uniform(0.7, 1.0), 2), ramp)
    training = sorted(n.name for n in fleet.nodes.values() if n.role == "training")
    if kind == "port_congestion":
        port = rng.choice(fleet.serving_ports())
        return replace(base, target=port, sources=tuple(training))
    if kind == "idle_port_congestion":
        return replace(base, target=rng.choice(fleet.quiet_ports()), sources=tuple(training))
    if kind == "gpu_noisy_neighbor":
        replica = rng.choice(fleet.replicas)
        return replace(
            base,
            target=replica.gpu,
            pid=new_pid(fleet, rng),
            executable=rng.choice(("python3", "trainer", "jupyter-kernel")),
        )
    if kind == "idle_gpu_neighbor":
        idle = fleet.idle_gpus()
        if not idle:
            raise ValueError("fleet has no idle GPU for an idle_gpu_neighbor")
        return replace(
            base, target=rng.choice(idle).uuid, pid=new_pid(fleet, rng), executable="python3"
        )
    if kind == "cpu_noisy_neighbor":
        hosts = sorted({r.host for r in fleet.replicas})
        return replace(
            base,
            target=rng.choice(hosts),
            pid=new_pid(fleet, rng),
            executable=rng.choice(("ffmpeg", "spark-executor", "gzip")),
        )
    if kind == "nic_congestion":
        serving = {r.host for r in fleet.replicas}
        return replace(
            base, target=rng.choice(sorted(n.id for n in fleet.nics.values() if n.host in serving))
        )
    if kind == "call_delay":
        called = {c for p in fleet.profiles.values() for c in p.calls}
        replica = rng.choice([r for r in fleet.replicas if r.service in called])
        return replace(base, target=replica.host, pid=replica.pid)
    if kind == "cpu_saturation":
        replica = rng.choice(fleet.replicas)
        return replace(
            base,
            target=replica.host,
            pid=replica.pid,
            executable=fleet.profiles[replica.service].executable,
        )
    if kind in ("gpu_underutilized", "gpu_dip"):
        return replace(base, target=rng.choice(fleet.replicas).gpu)
    if kind in LLM_KINDS:
        generative = sorted({r.service for r in fleet.replicas} & set(LLM_SERVICES))
        if not generative:
            raise ValueError(f"fleet has no generative service for a {kind}")
        return replace(base, target=rng.choice(generative), intensity=1.0)
    if kind == "load_surge":
        services = sorted({r.service for r in fleet.replicas})
        return replace(base, target=rng.choice(services), intensity=round(rng.uniform(0.8, 1.2), 2))
    raise ValueError(f"unknown fault kind {kind!r}")
