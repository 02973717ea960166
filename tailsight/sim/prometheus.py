"""The simulated fleet as its exporters publish it: no tailsight agent, only Prometheus.

``--telemetry prometheus`` (``tailsight sim``, ``bench/rca_eval.py --mode no-agent``)
replaces the agent's OTLP metrics with what a fleet already runs, built from the same
:class:`~tailsight.sim.state.TickState` and sent as Prometheus remote write 1.0
(snappy ``WriteRequest``, as a Prometheus server forwards its scrapes):

- **dcgm-exporter** (``job="dcgm-exporter"``, port 9400): ``DCGM_FI_DEV_GPU_UTIL`` (%),
  ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` (ratio), ``DCGM_FI_DEV_FB_USED``/``_FREE`` (MiB),
  ``DCGM_FI_DEV_POWER_USAGE`` (W), ``DCGM_FI_DEV_SM_CLOCK`` (MHz),
  ``DCGM_FI_DEV_XID_ERRORS``, with the labels of tests/pipeline/prom_fixtures/dcgm_1.txt.
  Workloads are known by the pods the kubelet gave the GPU (``pod``/``namespace``/
  ``container``), not by pid: a GPU shared by two pods is published once per pod with the
  same GPU-wide values, and a GPU no pod holds with empty pod labels.
- **node_exporter** (``job="node"``, port 9100): ``node_cpu_seconds_total{cpu,mode}``
  (every ``CPU_EVERY`` ticks: 64-128 cores x 4 modes would otherwise be most samples),
  PSI ``node_pressure_*_waiting_seconds_total``, ``node_network_*_total{device}`` (bytes,
  packets, drop, errs; ``lo`` too), ``node_network_speed_bytes``,
  ``node_netstat_Tcp_RetransSegs`` and, from its ethtool collector on mlx5 NICs, the
  per-priority PFC counters ``node_ethtool_{rx,tx}_prio3_pause``. No switch (SNMP) data.
- **inference servers** (pod-SD targets, ``pod``/``namespace`` relabelled in): vLLM's
  ``vllm:num_requests_running``/``waiting``, ``vllm:gpu_cache_usage_perc``,
  ``vllm:request_success_total`` for LLM services; Triton's
  ``nv_inference_pending_request_count`` and ``nv_inference_request_success`` for the rest.

Spans still come over OTLP: they are the services' own tracing, not the agent's.
"""

from __future__ import annotations

import http.client
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cramjam

from tailsight.pipeline.prom_remote_pb import WriteRequest
from tailsight.sim.faults import NEIGHBOR_NAMESPACE, neighbor_pod_name
from tailsight.sim.fleet import Fleet, Gpu
from tailsight.sim.scenario import Scenario, Simulation
from tailsight.sim.sender import OtlpHttpSender
from tailsight.sim.state import TickState
from tailsight.sim.telemetry import NAMESPACE

MIB = float(1 << 20)
DRIVER = "550.54.15"
MODEL_NAME = "NVIDIA H100 80GB HBM3"
CPU_MODES = ("user", "system", "iowait", "idle")  # the modes the simulated hosts spend time in
CPU_EVERY = 6  # ticks between node_cpu_seconds_total samples (cores x modes series per host)
LLM_SERVICES = frozenset({"llm-gateway"})  # served by vLLM; the others by Triton
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "Prometheus/2.53.0",
}
Labels = tuple[tuple[str, str], ...]


def pod_of(fleet: Fleet, pid: int, executable: str) -> tuple[str, str, str]:
    """(namespace, pod, container) of a process on a GPU, as the kubelet names them."""
    for r in fleet.replicas:
        if r.pid == pid:
            return NAMESPACE, f"{r.service}-{pid:x}", r.service  # as the spans' k8s.pod.name
    for j in fleet.jobs:
        if j.pid == pid:
            return "training", f"{j.job}-{pid:x}", j.executable
    return NEIGHBOR_NAMESPACE, neighbor_pod_name(pid, executable), executable


def _gpu_labels(host: str, gpu: Gpu) -> list[tuple[str, str]]:
    return [
        ("gpu", str(gpu.index)),
        ("UUID", gpu.uuid),
        ("pci_bus_id", f"00000000:{0x18 + 0x10 * gpu.index:02X}:00.0"),
        ("device", f"nvidia{gpu.index}"),
        ("modelName", MODEL_NAME),
        ("Hostname", host),
        ("DCGM_FI_DRIVER_VERSION", DRIVER),
    ]


class PromBuilder:
    """Turns ticks into remote-write requests; counters accumulate across batches."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.totals: dict[Labels, float] = defaultdict(float)
        self._series: dict[Labels, list[tuple[int, float]]] = {}
        self.samples = 0  # samples built so far
        self._ports = {r.pid: 8000 + i for i, r in enumerate(fleet.replicas)}
        self._ticks = 0
        self._cpu_dt: dict[str, float] = {}  # seconds and busy seconds since the last CPU sample
        self._cpu_busy: dict[str, float] = {}

    def _gauge(self, name: str, labels: list[tuple[str, str]], t_ms: int, value: float) -> None:
        key = tuple(sorted([("__name__", name), *labels]))
        self._series.setdefault(key, []).append((t_ms, value))

    def _counter(
        self, name: str, labels: list[tuple[str, str]], t_ms: int, rate: float, dt: float
    ) -> None:
        key = tuple(sorted([("__name__", name), *labels]))
        self.totals[key] += max(0.0, rate) * dt
        self._series.setdefault(key, []).append((t_ms, float(round(self.totals[key], 3))))

    def add_tick(self, st: TickState) -> None:
        """One scrape of every exporter at the tick's end."""
        t_ms = int(round(st.t * 1000))
        self._ticks += 1
        for name, node in self.fleet.nodes.items():
            self._dcgm(name, node.gpus, st, t_ms)
            self._node(name, node.cores, st, t_ms)
        self._servers(st, t_ms)

    def _dcgm(self, host: str, gpus: tuple[Gpu, ...], st: TickState, t_ms: int) -> None:
        target = [("job", "dcgm-exporter"), ("instance", f"{host}:9400")]
        for gpu in gpus:
            g = st.gpus[gpu.uuid]
            pods = sorted({pod_of(self.fleet, pid, exe) for pid, exe, _, _ in g.procs}) or [
                ("", "", "")
            ]
            used = g.memory / MIB
            values = (
                ("DCGM_FI_DEV_GPU_UTIL", float(round(100 * g.util))),
                ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", round(g.util, 4)),
                ("DCGM_FI_DEV_FB_USED", float(round(used))),
                ("DCGM_FI_DEV_FB_FREE", float(round(gpu.memory_bytes / MIB - used))),
                ("DCGM_FI_DEV_POWER_USAGE", round(g.power, 3)),
                ("DCGM_FI_DEV_SM_CLOCK", float(round(g.clock_hz / 1e6))),
                ("DCGM_FI_DEV_XID_ERRORS", 0.0),
            )
            base = target + _gpu_labels(host, gpu)
            for namespace, pod, container in pods:
                labels = [*base, ("container", container), ("namespace", namespace), ("pod", pod)]
                for metric, value in values:
                    self._gauge(metric, labels, t_ms, value)

    def _node(self, host: str, cores: int, st: TickState, t_ms: int) -> None:
        target = [("job", "node"), ("instance", f"{host}:9100")]
        h, dt = st.hosts[host], st.dt
        busy = min(1.0, max(0.0, h.cpu))
        self._cpu_dt[host] = self._cpu_dt.get(host, 0.0) + dt
        self._cpu_busy[host] = self._cpu_busy.get(host, 0.0) + busy * dt
        if self._ticks % CPU_EVERY == 0:  # per-CPU series at their coarser resolution
            span = self._cpu_dt.pop(host)
            busy = self._cpu_busy.pop(host) / span
            shares = (0.85 * busy, 0.15 * busy, 0.01 * (1 - busy), 0.99 * (1 - busy))
            for cpu in range(cores):
                for mode, share in zip(CPU_MODES, shares, strict=True):
                    self._counter(
                        "node_cpu_seconds_total", [*target, ("cpu", str(cpu)), ("mode", mode)],
                        t_ms, share, span,
                    )  # fmt: skip
        for resource, value in h.pressure.items():
            name = f"node_pressure_{resource}_waiting_seconds_total"
            self._counter(name, target, t_ms, value, dt)
        self._counter("node_netstat_Tcp_RetransSegs", target, t_ms, h.retransmits, dt)
        nics = [(nic.name, nic.speed_bps, st.nics[nic.id]) for nic in self.fleet.nodes[host].nics]
        loopback = dict.fromkeys(("rx_bytes", "tx_bytes"), 2e5)
        for device, speed_bps, rates in [*nics, ("lo", 0.0, loopback)]:
            dev = [*target, ("device", device)]
            for d, prefix in (("rx", "receive"), ("tx", "transmit")):
                self._counter(f"node_network_{prefix}_bytes_total", dev, t_ms,
                              rates[f"{d}_bytes"], dt)  # fmt: skip
                self._counter(f"node_network_{prefix}_packets_total", dev, t_ms,
                              rates[f"{d}_bytes"] / 4096.0, dt)  # fmt: skip
                self._counter(f"node_network_{prefix}_drop_total", dev, t_ms,
                              rates.get(f"{d}_drop", 0.0), dt)  # fmt: skip
                self._counter(f"node_network_{prefix}_errs_total", dev, t_ms,
                              rates.get(f"{d}_err", 0.0), dt)  # fmt: skip
            if device == "lo":
                continue
            self._gauge("node_network_speed_bytes", dev, t_ms, speed_bps / 8)
            for d in ("rx", "tx"):
                self._counter(f"node_ethtool_{d}_prio3_pause", dev, t_ms, rates[f"pfc_{d}"], dt)

    def _servers(self, st: TickState, t_ms: int) -> None:
        fl, dt = self.fleet, st.dt
        for rs in st.replicas.values():
            r = rs.replica
            prof = fl.profiles[r.service]
            target = [
                ("instance", f"{r.host}:{self._ports[r.pid]}"),
                ("namespace", NAMESPACE),
                ("pod", f"{r.service}-{r.pid:x}"),
            ]
            busy = rs.served * (prof.gpu_ms * rs.gpu_factor + rs.cpu_ms) / 1000.0
            waiting = rs.rate * rs.backlog_wait_s
            if r.service in LLM_SERVICES:
                labels = [*target, ("job", "vllm"), ("model_name", prof.model)]
                self._gauge("vllm:num_requests_running", labels, t_ms, round(busy, 2))
                self._gauge("vllm:num_requests_waiting", labels, t_ms, round(waiting, 2))
                self._gauge("vllm:gpu_cache_usage_perc", labels, t_ms,
                            round(min(1.0, 0.15 + 0.7 * rs.rho), 4))  # fmt: skip
                self._counter("vllm:request_success_total", [*labels, ("finished_reason", "stop")],
                              t_ms, rs.served, dt)  # fmt: skip
            else:
                labels = [*target, ("job", "triton"), ("model", prof.model), ("version", "1")]
                self._gauge("nv_inference_pending_request_count", labels, t_ms, round(waiting, 2))
                self._counter("nv_inference_request_success", labels, t_ms, rs.served, dt)

    def flush(self) -> tuple[Any, int]:
        """(``WriteRequest`` of every sample since the last flush, its sample count)."""
        req = WriteRequest()
        n = 0
        for labels, samples in self._series.items():
            ts = req.timeseries.add()
            for key, text in labels:
                ts.labels.add(name=key, value=text)
            for t_ms, value in samples:
                ts.samples.add(timestamp=t_ms, value=value)
            n += len(samples)
        self._series = {}
        self.samples += n
        return req, n


@dataclass(frozen=True)
class PromBatch:
    """The spans (OTLP) and exporter samples (remote write) of consecutive ticks."""

    t: float
    spans: Any  # ExportTraceServiceRequest | None
    write: Any  # WriteRequest | None
    n_spans: int
    n_samples: int


class PromSimulation(Simulation):
    """A :class:`Simulation` whose metrics are the exporters' (:class:`PromBuilder`)."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.prom = PromBuilder(self.fleet)

    def step(self) -> TickState:
        state = super().step()
        self.prom.add_tick(state)
        return state

    def prom_batches(self, until: float, ticks_per_batch: int = 6) -> Iterator[PromBatch]:
        """Batches up to ``until``: spans as OTLP, every tick's scrape as remote write."""
        never = 1 << 62  # the agent's OTLP metrics are not built at all
        for batch in self.batches(until, ticks_per_batch, metric_every=never):
            req, n = self.prom.flush()
            yield PromBatch(batch.t, batch.spans, req if n else None, batch.n_spans, n)


def compress(req: Any) -> bytes:
    """The remote-write body of ``req``: snappy block format, as Prometheus sends it."""
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


class RemoteWriteSender:
    """POSTs remote-write bodies to ``url`` (``http://host:8080/api/v1/write``).

    One keep-alive connection; ``429``/``503`` are retried after ``Retry-After``, as
    Prometheus' queue manager does; anything else but ``2xx`` raises ``RuntimeError``.
    """

    def __init__(self, url: str, token: str | None = None, give_up_s: float = 120.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"remote-write URL {url!r} is not http://host:port/path")
        self._addr = (parts.hostname, parts.port or 80)
        self._path = parts.path or "/api/v1/write"
        self._headers = dict(HEADERS)
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._give_up = give_up_s
        self._conn: http.client.HTTPConnection | None = None
        self.requests = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, body: bytes) -> None:
        deadline = time.monotonic() + self._give_up
        while True:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(*self._addr, timeout=60)
            try:
                self._conn.request("POST", self._path, body, self._headers)
                resp = self._conn.getresponse()
                text = resp.read()[:300].decode("utf-8", "replace")
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"remote write to {self._addr}: {exc}") from None
                time.sleep(0.2)
                continue
            if 200 <= resp.status < 300:
                self.requests += 1
                return
            if resp.status in (429, 503) and time.monotonic() < deadline:
                time.sleep(float(resp.getheader("Retry-After") or 1))
                continue
            raise RuntimeError(f"remote write: HTTP {resp.status}: {text}")


def send_prometheus(
    sim: PromSimulation,
    otlp: OtlpHttpSender,
    remote: RemoteWriteSender,
    until: float,
    ticks_per_batch: int = 30,
) -> int:
    """Send spans over OTLP and the exporters' samples as remote write up to ``until``."""
    for batch in sim.prom_batches(until, ticks_per_batch):
        if batch.write is not None:
            remote.post(compress(batch.write))
        if batch.spans is not None:
            otlp.post("/v1/traces", batch.spans)
    return sim.prom.samples
