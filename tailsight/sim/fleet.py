"""The simulated fleet's topology: switches and ports, nodes with NICs and GPUs, services, jobs.

Ids are those of CONTRACT §4 so ground truth names culprits exactly as the analysis
must: a switch port is ``leaf1/Ethernet8``, a NIC ``gpu-node-03/eth0``, a process
``gpu-node-03/41234``, a GPU ``gpu-node-03/GPU-…``, a service its ``service.name``.
Placement is deterministic for a given :class:`FleetSpec` and seed.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

GBPS = 1e9


@dataclass(frozen=True)
class ServiceProfile:
    """How one request of a service costs: rates, per-request work and payload.

    ``gpu_ms`` is the GPU compute of one request on an uncontended GPU at full clock;
    ``capacity`` the requests/s one replica serves at nominal speed (batching overlaps
    requests, so it exceeds ``1000 / gpu_ms``); contention divides it. ``size_sigma``
    spreads the work per request lognormally (prompt and output lengths): with queueing
    and retransmits, the baseline heavy tail.
    """

    name: str
    model: str
    rate: float  # mean external requests/s over a day, per replica (fleets are provisioned)
    gpu_ms: float
    cpu_ms: float
    net_ms: float
    capacity: float
    size_sigma: float
    bytes_in: int
    bytes_out: int
    executable: str = "python3"
    gpu_mem_gib: float = 20.0
    calls: tuple[str, ...] = ()  # downstream services a share of requests call first
    call_share: float = 0.0


PROFILES: dict[str, ServiceProfile] = {
    p.name: p
    for p in (
        ServiceProfile(
            "llm-gateway",
            "llama-3.1-70b-instruct",
            3.0,
            420.0,
            6.0,
            3.0,
            6.7,
            0.5,
            6000,
            3000,
            "vllm",
            60.0,
            ("embedder", "reranker"),
            0.3,
        ),
        ServiceProfile(
            "embedder",
            "bge-large-en-v1.5",
            20.0,
            18.0,
            3.0,
            1.5,
            52.0,
            0.35,
            4000,
            4096,
            "text-embeddings-router",
            6.0,
        ),
        ServiceProfile(
            "reranker",
            "bge-reranker-v2-m3",
            10.0,
            35.0,
            4.0,
            1.5,
            25.0,
            0.4,
            16000,
            512,
            "text-embeddings-router",
            8.0,
        ),
        # A thin service: a content-moderation model called a few times a minute. Only
        # fleets that list it (the corpus's large-fleet seeds) have it.
        ServiceProfile(
            "moderation",
            "llama-guard-3-8b",
            0.05,
            45.0,
            5.0,
            1.5,
            8.0,
            0.4,
            3000,
            200,
            "python3",
            18.0,
        ),
        ServiceProfile(
            "asr",
            "whisper-large-v3",
            3.0,
            260.0,
            40.0,
            4.0,
            6.7,
            0.45,
            320000,
            2000,
            "python3",
            12.0,
        ),
    )
}


@dataclass(frozen=True)
class Port:
    """A switch port; ``peer`` is the NIC id cabled to it, or the spine for an uplink."""

    switch: str
    name: str
    speed_bps: float
    peer: str | None = None

    @property
    def id(self) -> str:
        return f"{self.switch}/{self.name}"


@dataclass(frozen=True)
class Switch:
    name: str
    role: str  # leaf or spine
    ports: tuple[Port, ...]


@dataclass(frozen=True)
class Nic:
    host: str
    name: str
    speed_bps: float
    port: str  # switch port id

    @property
    def id(self) -> str:
        return f"{self.host}/{self.name}"


@dataclass(frozen=True)
class Gpu:
    host: str
    index: int
    uuid: str
    memory_bytes: int = 80 * 2**30
    max_clock_hz: float = 1.98e9
    max_power_w: float = 700.0
    idle_power_w: float = 75.0

    @property
    def id(self) -> str:
        return f"{self.host}/{self.uuid}"

    @property
    def name(self) -> str:
        return f"gpu{self.index}"


@dataclass(frozen=True)
class Node:
    name: str
    cores: int
    nics: tuple[Nic, ...]
    gpus: tuple[Gpu, ...]
    role: str  # serving or training


@dataclass(frozen=True)
class Replica:
    """One serving process of a service, pinned to one GPU."""

    service: str
    host: str
    pid: int
    gpu: str  # GPU uuid

    @property
    def id(self) -> str:
        return f"{self.host}/{self.pid}"


@dataclass(frozen=True)
class JobProcess:
    """A process of a training or batch job: ``gpu_util`` of its GPU, ``cpu`` cores, traffic."""

    job: str
    host: str
    pid: int
    executable: str
    gpu: str | None
    gpu_util: float
    cpu_cores: float
    traffic_bps: float = 0.0

    @property
    def id(self) -> str:
        return f"{self.host}/{self.pid}"


@dataclass(frozen=True)
class FleetSpec:
    """The size and shape of a fleet; everything else follows from it and the seed."""

    leaves: int = 2
    spines: int = 2
    serving_nodes_per_leaf: int = 3
    training_nodes_per_leaf: int = 1
    gpus_per_node: tuple[int, ...] = (4, 8)
    node_port_gbps: float = 100.0
    uplink_gbps: float = 400.0
    spare_ports_per_leaf: int = 1
    services: dict[str, int] = field(
        default_factory=lambda: {"llm-gateway": 4, "embedder": 3, "reranker": 3, "asr": 2}
    )
    batch_jobs: int = 1


@dataclass
class Fleet:
    """Everything placed: look-ups by id for the engine and the telemetry."""

    spec: FleetSpec
    switches: dict[str, Switch]
    nodes: dict[str, Node]
    replicas: list[Replica]
    jobs: list[JobProcess]
    profiles: dict[str, ServiceProfile]
    ports: dict[str, Port] = field(init=False)
    nics: dict[str, Nic] = field(init=False)
    gpus: dict[str, Gpu] = field(init=False)  # by uuid

    def __post_init__(self) -> None:
        self.ports = {p.id: p for s in self.switches.values() for p in s.ports}
        self.nics = {n.id: n for node in self.nodes.values() for n in node.nics}
        self.gpus = {g.uuid: g for node in self.nodes.values() for g in node.gpus}

    def replicas_of(self, service: str) -> list[Replica]:
        return [r for r in self.replicas if r.service == service]

    def base_rate(self, service: str) -> float:
        """Mean external requests/s of a service: its per-replica rate times its replicas."""
        return self.profiles[service].rate * len(self.replicas_of(service))

    def services_on_port(self, port_id: str) -> set[str]:
        hosts = {n.host for n in self.nics.values() if n.port == port_id}
        return {r.service for r in self.replicas if r.host in hosts}

    def nic_of_port(self, port_id: str) -> Nic | None:
        return next((n for n in self.nics.values() if n.port == port_id), None)

    def idle_gpus(self) -> list[Gpu]:
        used = {r.gpu for r in self.replicas} | {j.gpu for j in self.jobs if j.gpu}
        return [g for g in self.gpus.values() if g.uuid not in used]

    def serving_ports(self) -> list[str]:
        hosts = {r.host for r in self.replicas}
        return sorted(n.port for n in self.nics.values() if n.host in hosts)

    def quiet_ports(self) -> list[str]:
        """Node ports no service's traffic crosses (training nodes, spare ports)."""
        used = set(self.serving_ports())
        return sorted(
            p.id
            for s in self.switches.values()
            if s.role == "leaf"
            for p in s.ports
            if p.id not in used and not (p.peer or "").endswith("/uplink")
        )


def _uuid(rng: random.Random) -> str:
    return "GPU-" + str(uuid.UUID(int=rng.getrandbits(128), version=4))


def build_fleet(spec: FleetSpec, seed: int) -> Fleet:
    """Place switches, nodes, GPUs, replicas and jobs for ``spec``, reproducibly from ``seed``."""
    rng = random.Random(f"fleet-{seed}")
    switches: dict[str, Switch] = {}
    nodes: dict[str, Node] = {}
    spine_names = [f"spine{i + 1}" for i in range(spec.spines)]
    spine_ports: dict[str, list[Port]] = {s: [] for s in spine_names}
    serving: list[Node] = []
    training: list[Node] = []
    n_node = 0
    for li in range(spec.leaves):
        leaf = f"leaf{li + 1}"
        ports: list[Port] = []
        per_leaf = spec.serving_nodes_per_leaf + spec.training_nodes_per_leaf
        for k in range(per_leaf + spec.spare_ports_per_leaf):
            port_name = f"Ethernet{4 * k}"
            port_id = f"{leaf}/{port_name}"
            if k >= per_leaf:
                ports.append(Port(leaf, port_name, spec.node_port_gbps * GBPS))
                continue
            n_node += 1
            role = "serving" if k < spec.serving_nodes_per_leaf else "training"
            host = f"gpu-node-{n_node:02d}"
            nic = Nic(host, "eth0", spec.node_port_gbps * GBPS, port_id)
            ports.append(Port(leaf, port_name, spec.node_port_gbps * GBPS, nic.id))
            count = (
                max(spec.gpus_per_node) if role == "training" else rng.choice(spec.gpus_per_node)
            )
            gpus = tuple(Gpu(host, i, _uuid(rng)) for i in range(count))
            node = Node(host, rng.choice((64, 96, 128)), (nic,), gpus, role)
            nodes[host] = node
            (serving if role == "serving" else training).append(node)
        for si, spine in enumerate(spine_names):
            up = Port(leaf, f"Ethernet{200 + 4 * si}", spec.uplink_gbps * GBPS, f"{spine}/uplink")
            ports.append(up)
            spine_ports[spine].append(
                Port(spine, f"Ethernet{4 * li}", spec.uplink_gbps * GBPS, up.id)
            )
        switches[leaf] = Switch(leaf, "leaf", tuple(ports))
    for spine in spine_names:
        switches[spine] = Switch(spine, "spine", tuple(spine_ports[spine]))

    pids = iter(rng.sample(range(2000, 60000), 4000))
    replicas: list[Replica] = []
    slots = [
        (n, g) for i in range(max(spec.gpus_per_node)) for n in serving for g in n.gpus[i : i + 1]
    ]
    taken = 0
    for service, count in spec.services.items():
        if service not in PROFILES:
            raise ValueError(f"unknown service {service!r}; known: {', '.join(PROFILES)}")
        for _ in range(count):
            if taken >= len(slots):
                raise ValueError("fleet has too few serving GPUs for its replicas")
            node, gpu = slots[taken]
            taken += 1
            replicas.append(Replica(service, node.name, next(pids), gpu.uuid))

    jobs: list[JobProcess] = []
    for node in training:
        for gpu in node.gpus:
            jobs.append(
                JobProcess(
                    "train-llm",
                    node.name,
                    next(pids),
                    "torchrun",
                    gpu.uuid,
                    0.93,
                    1.5,
                    35 * GBPS / len(node.gpus),
                )
            )
    # Batch jobs share a serving GPU at a low duty cycle, like a nightly embedding backfill.
    for b in range(spec.batch_jobs):
        target = replicas[(b * 3 + 1) % len(replicas)]
        jobs.append(
            JobProcess(
                f"batch-embed-{b + 1}",
                target.host,
                next(pids),
                "python3",
                target.gpu,
                0.08,
                1.0,
                0.2 * GBPS,
            )
        )
    return Fleet(spec, switches, nodes, replicas, jobs, dict(PROFILES))


def new_pid(fleet: Fleet, rng: random.Random) -> int:
    """A pid not used by any process of the fleet."""
    used = {r.pid for r in fleet.replicas} | {j.pid for j in fleet.jobs}
    while True:
        pid = rng.randrange(60000, 4000000)
        if pid not in used:
            return pid
