"""The fleet's state tick by tick: load, contention and congestion, from which everything follows.

Each :meth:`Engine.step` advances ``dt`` seconds and returns a :class:`TickState`: per
replica its arrival rate, capacity and the slowdowns that latency is built from; per GPU,
host, NIC and switch port the gauges and the counter *rates* of that interval. Faults act
only here, through physical quantities (a second process's SM share, a host's CPU demand,
bytes offered to a port), so the spans and the metrics move together because they come
from the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tailsight.sim.faults import Fault
from tailsight.sim.fleet import Fleet, Replica
from tailsight.sim.llm import KV_CAPACITY_LOSS
from tailsight.sim.load import service_rate, wobble

QUEUE_SLOTS = 4  # M/M/c servers per replica: waiting probability ~ rho**c
MAX_WAIT_S = 20.0  # backlog beyond this is shed (503)
MTU_BYTES = 4096.0
CALL_DELAY_MS = 2500.0  # a call_delay fault at full level: netem-like delay plus retries


@dataclass
class ReplicaState:
    """One replica in one tick."""

    replica: Replica
    rate: float = 0.0  # arrivals/s routed to it
    served: float = 0.0
    capacity: float = 0.0
    rho: float = 0.0
    backlog_wait_s: float = 0.0
    gpu_factor: float = 1.0  # GPU compute time multiplier
    cpu_ms: float = 0.0  # CPU preprocessing time per request, pressure included
    congestion: float = 0.0  # of the switch port its host hangs on, 0..1
    gpu_util: float = 0.0  # its SM share
    cpu_util: float = 0.0  # its share of the host's CPU
    output_scale: float = 1.0  # output length multiplier of its requests (sim.llm)


@dataclass
class GpuState:
    util: float = 0.0
    memory: float = 0.0
    power: float = 0.0
    clock_hz: float = 0.0
    throttled: bool = False
    pcie_rx: float = 0.0  # bytes/s
    pcie_tx: float = 0.0
    procs: list[tuple[int, str, float, float]] = field(default_factory=list)  # pid, exe, util, mem


@dataclass
class HostState:
    cpu: float = 0.0
    pressure: dict[str, float] = field(default_factory=dict)
    procs: list[tuple[int, str, float]] = field(default_factory=list)  # pid, exe, cpu share
    retransmits: float = 0.0  # segments/s


# Counter rates per interval: NIC and switch port fields, per second.
NIC_FIELDS = (
    "rx_bytes",
    "tx_bytes",
    "rx_drop",
    "tx_drop",
    "rx_err",
    "tx_err",
    "pfc_rx",
    "pfc_tx",
    "ecn",
    "cnp_sent",
    "cnp_handled",
    "oos",
)
PORT_FIELDS = (
    "rx_bytes",
    "tx_bytes",
    "rx_disc",
    "tx_disc",
    "rx_err",
    "tx_err",
    "pfc_rx",
    "pfc_tx",
    "ecn",
)


@dataclass
class TickState:
    """Everything of one interval ``[t - dt, t)``."""

    t: float
    dt: float
    rates: dict[str, float]  # arrivals/s per service, calls from upstream included
    direct: dict[str, float]  # arrivals/s from outside the fleet
    replicas: dict[int, ReplicaState]
    gpus: dict[str, GpuState]
    hosts: dict[str, HostState]
    nics: dict[str, dict[str, float]]
    ports: dict[str, dict[str, float]]
    levels: dict[str, float]  # active fault id -> level
    # Extra time on the wire of calls to a replica (pid -> ms): a delay no counter shows.
    call_delay_ms: dict[int, float] = field(default_factory=dict)


class Engine:
    """Steps a fleet and its faults through time; reproducible from ``seed``."""

    def __init__(
        self, fleet: Fleet, faults: list[Fault], seed: int, start: float, dt: float = 10.0
    ) -> None:
        self.fleet = fleet
        self.faults = list(faults)
        self.seed = seed
        self.t = start
        self.dt = dt
        self.rng = np.random.default_rng([seed, 1])
        self._backlog: dict[int, float] = {r.pid: 0.0 for r in fleet.replicas}
        self._pressure: dict[str, float] = dict.fromkeys(fleet.nodes, 0.0)
        self._throttle: dict[str, bool] = dict.fromkeys(fleet.gpus, False)
        self._port_of_host = {n.host: n.port for n in fleet.nics.values()}
        self._nic_of_port = {n.port: n.id for n in fleet.nics.values()}

    def add_fault(self, fault: Fault) -> None:
        self.faults.append(fault)

    def _noise(self, scale: float) -> float:
        return 1.0 + scale * float(self.rng.standard_normal())

    def step(self) -> TickState:
        """Advance one interval and return its state."""
        fl, dt = self.fleet, self.dt
        t = self.t + dt
        mid = t - dt / 2
        self.t = t
        levels = {f.id: lv for f in self.faults if (lv := f.level(mid)) > 0}
        active = [f for f in self.faults if f.id in levels]

        def level(kind: str, target: str) -> float:
            return sum(levels[f.id] for f in active if f.kind == kind and f.target == target)

        # Arrivals: direct traffic (diurnal, surges), then what callers send downstream.
        services = sorted({r.service for r in fl.replicas})
        rates = {
            s: service_rate(fl.base_rate(s), mid, s, self.seed) * (1 + 0.6 * level("load_surge", s))
            for s in services
        }
        direct = dict(rates)
        for s in services:
            prof = fl.profiles[s]
            for callee in prof.calls:
                if callee in rates:
                    rates[callee] += rates[s] * prof.call_share

        # Other processes on each GPU: batch and training jobs, injected neighbors.
        gpu_procs: dict[str, list[tuple[int, str, float, float]]] = {g: [] for g in fl.gpus}
        for job in fl.jobs:
            if job.gpu:
                util = min(0.99, job.gpu_util * wobble(mid, job.job, self.seed, 0.1))
                gpu_procs[job.gpu].append(
                    (job.pid, job.executable, util, 30 * 2**30 * util + 2**30)
                )
        for f in active:
            if f.kind in ("gpu_noisy_neighbor", "idle_gpu_neighbor") and f.pid is not None:
                util = 0.92 * levels[f.id]
                gpu_procs[f.target].append((f.pid, f.executable or "python3", util, 24 * 2**30))

        port_cong = self._congestion(levels, active)
        nic_cong: dict[str, float] = {}  # host -> level of congestion at its own NIC
        for f in active:
            if f.kind == "nic_congestion":
                nic_host = fl.nics[f.target].host
                nic_cong[nic_host] = min(1.0, nic_cong.get(nic_host, 0.0) + levels[f.id])
        states: dict[int, ReplicaState] = {}
        for r in fl.replicas:
            prof = fl.profiles[r.service]
            neighbor = sum(u for _, _, u, _ in gpu_procs[r.gpu])
            pressure = self._pressure[r.host]
            clock = 0.85 if self._throttle[r.gpu] else 1.0
            gpu_factor = (1 + 1.5 * neighbor) * (1 + 1.5 * pressure) / clock
            under = level("gpu_underutilized", r.gpu)
            cpu_ms = prof.cpu_ms * (1 + 10 * pressure) + 5 * under * (prof.gpu_ms + prof.cpu_ms)
            # A process short of CPU by its own doing also waits on its own busy threads.
            cpu_ms *= 1 + 3 * sum(
                levels[f.id] for f in active if f.kind == "cpu_saturation" and f.pid == r.pid
            )
            threads = 8.0 / (1 + 7 * min(1.0, under))
            cap = min(prof.capacity / gpu_factor, threads * 1000.0 / cpu_ms)
            # Fewer sequences fit in a KV cache under pressure: fewer requests run at once.
            cap /= 1 + KV_CAPACITY_LOSS * level("kv_cache_pressure", r.service)
            states[r.pid] = ReplicaState(
                r,
                capacity=cap,
                output_scale=1 + level("long_output_burst", r.service),
                gpu_factor=gpu_factor,
                cpu_ms=cpu_ms,
                congestion=min(
                    1.0, port_cong.get(self._port_of_host[r.host], 0.0) + nic_cong.get(r.host, 0.0)
                ),
            )
        # The balancer favours faster replicas, imperfectly (least-outstanding-requests).
        for s in services:
            group = [st for st in states.values() if st.replica.service == s]
            weights = [st.capacity**0.85 for st in group]
            total = sum(weights)
            for st, w in zip(group, weights, strict=True):
                st.rate = rates[s] * w / total
                backlog = self._backlog[st.replica.pid] + (st.rate - st.capacity) * dt
                backlog = min(max(0.0, backlog), st.capacity * MAX_WAIT_S)
                self._backlog[st.replica.pid] = backlog
                st.backlog_wait_s = backlog / st.capacity
                st.served = min(st.rate, st.capacity) if backlog <= 0 else st.capacity
                st.rho = min(st.rate / st.capacity, 0.98)

        gpus = self._gpus(states, gpu_procs, levels, active, mid)
        hosts = self._hosts(states, levels, active, mid)
        nics, ports = self._network(states, port_cong, active, levels, mid, nic_cong)
        for name, host in hosts.items():
            # Host-wide TCP retransmits: a trickle, plus the drops on a congested port.
            c = min(1.0, port_cong.get(self._port_of_host[name], 0.0) + nic_cong.get(name, 0.0))
            host.retransmits = float(self.rng.poisson(1.5)) + 1500.0 * c
        delay: dict[int, float] = {}
        for f in active:
            if f.kind == "call_delay" and f.pid is not None:
                delay[f.pid] = delay.get(f.pid, 0.0) + CALL_DELAY_MS * levels[f.id]
        return TickState(t, dt, rates, direct, states, gpus, hosts, nics, ports, levels, delay)

    def _congestion(self, levels: dict[str, float], active: list[Fault]) -> dict[str, float]:
        out: dict[str, float] = {}
        for f in active:
            if f.kind in ("port_congestion", "idle_port_congestion"):
                out[f.target] = min(1.0, out.get(f.target, 0.0) + levels[f.id])
        return out

    def _gpus(
        self,
        states: dict[int, ReplicaState],
        gpu_procs: dict[str, list[tuple[int, str, float, float]]],
        levels: dict[str, float],
        active: list[Fault],
        mid: float,
    ) -> dict[str, GpuState]:
        fl = self.fleet
        dips = {f.target: levels[f.id] for f in active if f.kind == "gpu_dip"}
        for st in states.values():
            prof = fl.profiles[st.replica.service]
            # SM busy share: served work at nominal speed; a dip is a reporting lull only.
            util = min(0.97, 1.15 * st.served / prof.capacity * min(st.gpu_factor, 1.6))
            util *= 1 - 0.75 * dips.get(st.replica.gpu, 0.0)
            st.gpu_util = max(0.0, util * self._noise(0.03))
            mem = prof.gpu_mem_gib * 2**30 * (1 + 0.02 * st.rho)
            gpu_procs[st.replica.gpu].append((st.replica.pid, prof.executable, st.gpu_util, mem))
        out: dict[str, GpuState] = {}
        for uuid, gpu in fl.gpus.items():
            procs = gpu_procs[uuid]
            total = sum(u for _, _, u, _ in procs)
            if total > 1.0:  # time-slicing: shares scale down to the whole GPU
                procs = [(p, e, u / total, m) for p, e, u, m in procs]
            util = min(1.0, total)
            mem = sum(m for _, _, _, m in procs) + 0.4 * 2**30
            power = gpu.idle_power_w + (gpu.max_power_w - gpu.idle_power_w) * util**0.9
            power *= self._noise(0.01)
            throttled = power > 0.97 * gpu.max_power_w and len(procs) > 1
            self._throttle[uuid] = throttled
            clock = gpu.max_clock_hz * (0.85 if throttled else 1.0)
            out[uuid] = GpuState(
                util=util,
                memory=mem,
                power=min(power, gpu.max_power_w),
                clock_hz=clock,
                throttled=throttled,
                pcie_rx=2e9 * util * self._noise(0.05) + 1e6,
                pcie_tx=0.6e9 * util * self._noise(0.05) + 1e6,
                procs=procs,
            )
        return out

    def _hosts(
        self,
        states: dict[int, ReplicaState],
        levels: dict[str, float],
        active: list[Fault],
        mid: float,
    ) -> dict[str, HostState]:
        fl = self.fleet
        out: dict[str, HostState] = {}
        for name, node in fl.nodes.items():
            procs: list[tuple[int, str, float]] = []
            for st in states.values():
                if st.replica.host != name:
                    continue
                prof = fl.profiles[st.replica.service]
                # Preprocessing, plus the serving loop driving the GPU, plus a fixed idle cost.
                cores = st.served * (st.cpu_ms + 0.05 * prof.gpu_ms) / 1000.0 + 0.1
                st.cpu_util = cores / node.cores * self._noise(0.03)
                # Its own threads spin up to the node's cores: the CPU it is short of is its own.
                st.cpu_util += sum(
                    0.95 * levels[f.id]
                    for f in active
                    if f.kind == "cpu_saturation" and f.target == name and f.pid == st.replica.pid
                )
                procs.append((st.replica.pid, prof.executable, st.cpu_util))
            for job in fl.jobs:
                if job.host == name:
                    procs.append(
                        (job.pid, job.executable, job.cpu_cores / node.cores * self._noise(0.05))
                    )
            for f in active:
                if f.kind == "cpu_noisy_neighbor" and f.target == name and f.pid is not None:
                    procs.append((f.pid, f.executable or "stress", 0.9 * levels[f.id]))
            cpu = min(1.0, 0.04 + sum(c for _, _, c in procs) * self._noise(0.02))
            pressure = 0.8 * max(0.0, (cpu - 0.55) / 0.45) ** 1.3
            self._pressure[name] = pressure
            out[name] = HostState(
                cpu=cpu,
                pressure={
                    "cpu": min(1.0, pressure + abs(0.004 * float(self.rng.standard_normal()))),
                    "memory": abs(0.002 * float(self.rng.standard_normal())),
                    "io": abs(0.01 * float(self.rng.standard_normal())),
                },
                procs=procs,
            )
        return out

    def _network(
        self,
        states: dict[int, ReplicaState],
        port_cong: dict[str, float],
        active: list[Fault],
        levels: dict[str, float],
        mid: float,
        nic_cong: dict[str, float] | None = None,
    ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        fl, rng = self.fleet, self.rng
        nics = {nid: dict.fromkeys(NIC_FIELDS, 0.0) for nid in fl.nics}
        ports = {pid: dict.fromkeys(PORT_FIELDS, 0.0) for pid in fl.ports}
        # Offered traffic per NIC: service payloads, job traffic, background chatter.
        for nic in fl.nics.values():
            rates = nics[nic.id]
            rates["rx_bytes"] = 2e8 * wobble(mid, nic.id + "rx", self.seed, 0.3)
            rates["tx_bytes"] = 1.5e8 * wobble(mid, nic.id + "tx", self.seed, 0.3)
        for st in states.values():
            prof = self.fleet.profiles[st.replica.service]
            nid = self._nic_of_port[self._port_of_host[st.replica.host]]
            nics[nid]["rx_bytes"] += st.served * prof.bytes_in
            nics[nid]["tx_bytes"] += st.served * prof.bytes_out
        for job in fl.jobs:
            nid = self._nic_of_port[self._port_of_host[job.host]]
            burst = 0.75 + 0.25 * math.sin(mid / 7.0 + job.pid)  # all-reduce phases
            nics[nid]["rx_bytes"] += job.traffic_bps / 8 * burst
            nics[nid]["tx_bytes"] += job.traffic_bps / 8 * burst
        # Incast onto a congested port: the sources' traffic fills it to line rate.
        for f in active:
            if f.kind not in ("port_congestion", "idle_port_congestion"):
                continue
            lv = levels[f.id]
            port = fl.ports[f.target]
            extra = port.speed_bps / 8 * (0.55 + 0.4 * lv)
            nic_id = self._nic_of_port.get(f.target)
            if nic_id is not None:
                nics[nic_id]["rx_bytes"] += extra
            else:
                ports[f.target]["tx_bytes"] += extra
            sources = [self._nic_of_port[self._port_of_host[h]] for h in f.sources]
            for src in sources:
                nics[src]["tx_bytes"] += extra / len(sources)
                nics[src]["cnp_handled"] += 3e4 * lv / len(sources)
        for nic in fl.nics.values():
            rates = nics[nic.id]
            line = nic.speed_bps / 8
            rates["rx_bytes"] = min(rates["rx_bytes"], 0.985 * line) * self._noise(0.01)
            rates["tx_bytes"] = min(rates["tx_bytes"], 0.985 * line) * self._noise(0.01)
            c = port_cong.get(nic.port, 0.0)
            if c > 0:
                rates["ecn"] += 3e5 * c
                rates["cnp_sent"] += 3e4 * c
                rates["pfc_tx"] += 1.5e4 * c
                rates["oos"] += 2e3 * c
                rates["rx_drop"] += 400 * c * c
            n = (nic_cong or {}).get(nic.host, 0.0)
            if n > 0:
                # The NIC's receive side overflows: it pauses the port and drops; the
                # switch's queues stay short (no ECN marks, no discards at the port).
                rates["pfc_tx"] += 1.5e4 * n
                rates["rx_drop"] += 400 * n * n
                rates["oos"] += 2e3 * n
            rates["ecn"] += float(rng.poisson(0.5))
            rates["rx_err"] += float(rng.poisson(0.01))
            # The switch port sees the NIC's traffic mirrored.
            p = ports[nic.port]
            p["tx_bytes"] += rates["rx_bytes"]
            p["rx_bytes"] += rates["tx_bytes"]
            p["pfc_rx"] += rates["pfc_tx"]
            p["pfc_tx"] += rates["pfc_rx"]
        for port_id, c in port_cong.items():
            p = ports[port_id]
            p["ecn"] += 3e5 * c
            p["tx_disc"] += 2.5e3 * c * c
            if port_id not in self._nic_of_port:
                p["pfc_rx"] += 1.5e4 * c
        # Uplinks carry the leaf's cross-rack share; spines mirror them.
        for sw in fl.switches.values():
            if sw.role != "leaf":
                continue
            node_ports = [p for p in sw.ports if not (p.peer or "").endswith("/uplink")]
            ups = [p for p in sw.ports if (p.peer or "").endswith("/uplink")]
            rx = sum(ports[p.id]["rx_bytes"] for p in node_ports) * 0.3
            tx = sum(ports[p.id]["tx_bytes"] for p in node_ports) * 0.3
            for up in ups:
                ports[up.id]["tx_bytes"] += rx / len(ups)
                ports[up.id]["rx_bytes"] += tx / len(ups)
                spine_port = next(
                    q
                    for s in fl.switches.values()
                    if s.role == "spine"
                    for q in s.ports
                    if q.peer == up.id
                )
                ports[spine_port.id]["rx_bytes"] += rx / len(ups)
                ports[spine_port.id]["tx_bytes"] += tx / len(ups)
        for p in ports.values():
            p["rx_err"] += float(rng.poisson(0.005))
        return nics, ports
