"""Per-request latency, built from the causes in a :class:`TickState`.

A request's latency is the sum of queueing (M/M/c wait from its replica's utilisation,
plus any backlog when arrivals exceed capacity), CPU preprocessing (slowed by host CPU
pressure or a CPU-bound pipeline), GPU compute (slowed by SM contention, throttling and
a starved serving loop) and network time (slowed by congestion on the host's switch
port, with retransmission timeouts from its drops). Request sizes are lognormal.

Requests are *sampled*: each service's external requests are kept with probability
``p`` (see :func:`sample_probability`), and the downstream calls of a kept request are
kept with it (parent-based), so every span carries its own probability and rates
estimate as the sum of ``1/p``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailsight.sim.fleet import Fleet
from tailsight.sim.llm import LLM_SERVICES, LlmTiming, llm_timing
from tailsight.sim.state import QUEUE_SLOTS, ReplicaState, TickState

TIMEOUT_MS = 30000.0
RTO_MS = 200.0


@dataclass(frozen=True)
class Request:
    """One sampled request: becomes one SERVER span."""

    service: str
    host: str
    pid: int
    start_ns: int
    duration_ns: int
    status: int
    trace_id: bytes
    span_id: bytes
    parent_id: bytes
    sample_p: float
    client_of: str = ""  # a CLIENT span of a call to this service, else a SERVER span
    llm: LlmTiming | None = None  # phases and tokens of a generative service's request


def sample_probability(
    fleet: Fleet, service: str, spans_per_window: float, window_s: float = 10.0
) -> float:
    """The probability that keeps ``spans_per_window`` external requests per window on average."""
    mean = fleet.base_rate(service) * window_s
    return min(1.0, spans_per_window / mean)


def _latency_parts(
    st: ReplicaState, fleet: Fleet, rng: np.random.Generator
) -> tuple[float, float, float, float, float]:
    """Queue wait, CPU, GPU (at nominal output length) and network ms, and the request's size."""
    prof = fleet.profiles[st.replica.service]
    sigma = prof.size_sigma
    size = float(rng.lognormal(-sigma * sigma / 2, sigma))
    gpu = prof.gpu_ms * st.gpu_factor * size
    cpu = st.cpu_ms * float(rng.lognormal(0.0, 0.25))
    c = st.congestion
    net = prof.net_ms * (1 + 20 * c) * float(rng.lognormal(0.0, 0.2))
    # A longer exchange (a streamed completion) is more likely to lose a packet to drops.
    if c > 0 and rng.random() < min(0.9, 0.3 * c * (1 + gpu / 500.0)):
        net += RTO_MS * 2 ** min(4, int(rng.geometric(0.5)) - 1)
    if rng.random() < 0.004:  # rare stalls (GC, page faults, preemption): the far tail
        gpu *= 1 + float(rng.pareto(1.5))
    wait = st.backlog_wait_s * 1000.0
    if rng.random() < st.rho**QUEUE_SLOTS:
        # Stationary M/M/c wait; past rho 0.9 the growing backlog above carries the overload.
        wait += float(rng.exponential(1000.0 / (st.capacity * (1 - min(st.rho, 0.9)))))
    return wait, cpu, gpu, net, size


def _latency_ms(st: ReplicaState, fleet: Fleet, rng: np.random.Generator) -> float:
    wait, cpu, gpu, net, _ = _latency_parts(st, fleet, rng)
    return wait + cpu + gpu + net


def _own_latency(
    st: ReplicaState, fleet: Fleet, rng: np.random.Generator, key: bytes
) -> tuple[float, LlmTiming | None]:
    """A root request's own latency in ms and, for a generative service, its phases."""
    wait, cpu, gpu, net, size = _latency_parts(st, fleet, rng)
    profile = LLM_SERVICES.get(st.replica.service)
    if profile is None:
        return wait + cpu + gpu + net, None
    timing = llm_timing(
        profile,
        wait_ms=wait,
        cpu_ms=cpu,
        gpu_ms=gpu,
        size=size,
        output_scale=st.output_scale,
        key=key,
    )
    return timing.e2e_ms + net, timing


def _pick(group: list[ReplicaState], rng: np.random.Generator) -> ReplicaState:
    weights = np.array([max(st.rate, 1e-9) for st in group])
    return group[int(rng.choice(len(group), p=weights / weights.sum()))]


def sample_requests(
    state: TickState, fleet: Fleet, probabilities: dict[str, float], rng: np.random.Generator
) -> list[Request]:
    """The sampled requests of one tick, downstream calls included as child spans."""
    by_service: dict[str, list[ReplicaState]] = {}
    for st in state.replicas.values():
        by_service.setdefault(st.replica.service, []).append(st)
    out: list[Request] = []
    t0 = state.t - state.dt
    for service in sorted(by_service):
        p = probabilities.get(service, 0.0)
        if p <= 0:
            continue
        prof = fleet.profiles[service]
        n = int(rng.poisson(state.direct[service] * state.dt * p))
        starts = np.sort(rng.uniform(t0, state.t, n))
        for start in starts:
            trace = rng.bytes(16)
            span = rng.bytes(8)
            st = _pick(by_service[service], rng)
            own, timing = _own_latency(st, fleet, rng, span)
            start_ns = int(start * 1e9)
            cursor = start_ns + int(st.cpu_ms * 1e6)
            if prof.calls and rng.random() < prof.call_share:
                for callee in prof.calls:
                    if callee not in by_service:
                        continue
                    cst = _pick(by_service[callee], rng)
                    dur = _cut(int(_latency_ms(cst, fleet, rng) * 1e6))
                    child = rng.bytes(8)
                    client = child[::-1]  # no extra draw: other spans stay as they were
                    wire = int(state.call_delay_ms.get(cst.replica.pid, 0.0) * 1e6)
                    out.append(
                        Request(
                            callee,
                            cst.replica.host,
                            cst.replica.pid,
                            cursor + wire // 2,
                            dur,
                            _status(dur, rng),
                            trace,
                            child,
                            client,
                            p,
                        )
                    )
                    # The caller's CLIENT span: 0.1 ms on the wire each way, plus any delay.
                    out.append(
                        Request(
                            service,
                            st.replica.host,
                            st.replica.pid,
                            cursor - 100_000,
                            dur + wire + 200_000,
                            200,
                            trace,
                            client,
                            span,
                            p,
                            client_of=callee,
                        )
                    )
                    cursor += dur + wire + 200_000
            duration = _cut(cursor - start_ns + int(own * 1e6))
            out.append(
                Request(
                    service,
                    st.replica.host,
                    st.replica.pid,
                    start_ns,
                    duration,
                    _status(duration, rng),
                    trace,
                    span,
                    b"",
                    p,
                    llm=timing,
                )
            )
    return out


def _status(duration_ns: int, rng: np.random.Generator) -> int:
    if duration_ns >= TIMEOUT_MS * 1e6:
        return 504
    return 500 if rng.random() < 0.001 else 200


def _cut(duration_ns: int) -> int:
    """Requests end at the gateway timeout at the latest (and answer 504)."""
    return min(duration_ns, int(TIMEOUT_MS * 1e6))
