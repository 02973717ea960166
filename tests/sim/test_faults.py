"""Each fault kind moves the CONTRACT §3 signals it should, at its entity and time, and nothing else.

Every run shares the seed of the baseline run, so the noise is the same draw for draw
and a series differs from the baseline only where the fault's physics reaches it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tailsight.sim.faults import KINDS, Fault, truth
from tailsight.sim.fleet import Fleet
from tests.sim.simdata import DURATION, FAULT_AT, FAULT_S, START, Run, moved, window_mean

Faulted = Callable[[str], tuple[Fault, Run]]
DURING = (FAULT_AT + 60, FAULT_AT + FAULT_S - 60)  # fully ramped up


def service_entities(fleet: Fleet, services: set[str]) -> set[str]:
    """Everything a service's replicas touch: process, GPU, host, NIC, switch port."""
    out: set[str] = set()
    for r in fleet.replicas:
        if r.service in services:
            nic = next(n for n in fleet.nics.values() if n.host == r.host)
            out |= {r.id, f"{r.host}/{r.gpu}", r.host, nic.id, nic.port}
    return out


def fabric(fleet: Fleet) -> set[str]:
    """Uplinks and spine ports: they carry every leaf's cross-rack share."""
    return {
        p.id
        for s in fleet.switches.values()
        for p in s.ports
        if s.role == "spine" or (p.peer or "").endswith("/uplink")
    }


def expectations(fault: Fault, fleet: Fleet) -> tuple[set[tuple[str, str]], set[str]]:
    """(signals that must move, entities allowed to move) for one fault."""
    info = truth(fault, fleet)
    affected = set(info["affected_services"])
    kind, target = fault.kind, fault.target
    if kind.endswith("port_congestion"):
        nic = fleet.nic_of_port(target)
        must = {
            (m, target)
            for m in (
                "tailsight.switch.port.ecn_marked",
                "tailsight.switch.port.discards",
                "tailsight.switch.port.pfc.pause_frames",
                "tailsight.switch.port.io",
            )
        }
        allowed = {target} | fabric(fleet) | service_entities(fleet, affected)
        sources = {n.id for n in fleet.nics.values() if n.host in fault.sources}
        allowed |= sources | set(fault.sources) | {fleet.nics[s].port for s in sources}
        must |= {("tailsight.rdma.cnp.handled", s) for s in sources}
        if nic is not None:
            allowed |= {nic.id, nic.host}
            must |= {
                (m, nic.id)
                for m in (
                    "tailsight.rdma.ecn_marked",
                    "tailsight.rdma.cnp.sent",
                    "tailsight.nic.pfc.pause_frames",
                    "tailsight.rdma.out_of_sequence",
                    "system.network.packet.dropped",
                    "system.network.io",
                )
            }
            must.add(("tailsight.tcp.retransmits", nic.host))
        return must, allowed
    if kind in ("gpu_noisy_neighbor", "idle_gpu_neighbor"):
        gpu = fleet.gpus[target]
        proc = f"{gpu.host}/{fault.pid}"
        must = {
            ("hw.gpu.utilization", gpu.id),
            ("hw.gpu.memory.usage", gpu.id),
            ("hw.power", gpu.id),
            ("tailsight.gpu.process.utilization", proc),
            ("tailsight.gpu.process.memory.usage", proc),
        }
        return must, {gpu.id, proc} | service_entities(fleet, affected)
    if kind == "cpu_noisy_neighbor":
        proc = f"{target}/{fault.pid}"
        must = {
            ("system.cpu.utilization", target),
            ("tailsight.host.pressure", target),
            ("tailsight.process.cpu.utilization", proc),
        }
        return must, {target, proc} | service_entities(fleet, affected)
    if kind == "call_delay":
        return set(), set()  # only traces show it: no metric moves
    if kind == "long_output_burst":
        return set(), set()  # only the request spans' token counts and durations move
    if kind == "kv_cache_pressure":
        # Queueing shows in the spans; the backlog may move the service's own replicas' series.
        callees = set(fleet.profiles[target].calls)
        return set(), service_entities(fleet, {target} | callees) | fabric(fleet)
    if kind == "nic_congestion":
        nic = fleet.nics[target]
        must = {
            ("tailsight.nic.pfc.pause_frames", nic.id),
            ("system.network.packet.dropped", nic.id),
            ("tailsight.switch.port.pfc.pause_frames", nic.port),
        }
        return must, {nic.id, nic.host, nic.port} | service_entities(fleet, affected) | fabric(
            fleet
        )
    if kind == "cpu_saturation":
        proc = f"{target}/{fault.pid}"  # the serving process itself
        must = {
            ("system.cpu.utilization", target),
            ("tailsight.host.pressure", target),
            ("tailsight.process.cpu.utilization", proc),
        }
        return must, {target, proc} | service_entities(fleet, affected)
    if kind in ("gpu_underutilized", "gpu_dip"):
        gpu = fleet.gpus[target]
        replica = next(r for r in fleet.replicas if r.gpu == target)
        must = {
            ("hw.gpu.utilization", gpu.id),
            ("hw.power", gpu.id),
            ("tailsight.gpu.process.utilization", replica.id),
        }
        if kind == "gpu_underutilized":
            must.add(("tailsight.process.cpu.utilization", replica.id))
            return must, service_entities(fleet, affected)
        return must, {gpu.id, replica.id}
    if kind == "load_surge":
        replicas = [r for r in fleet.replicas if r.service == target]
        must = {("hw.gpu.utilization", f"{r.host}/{r.gpu}") for r in replicas}
        must |= {("tailsight.process.cpu.utilization", r.id) for r in replicas}
        callees = set(fleet.profiles[target].calls)
        return must, service_entities(fleet, {target} | callees) | fabric(fleet)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", list(KINDS))
def test_fault_moves_its_signals_at_its_entity_only(
    kind: str, fleet: Fleet, baseline: Run, faulted: Faulted
) -> None:
    fault, run = faulted(kind)
    must, allowed = expectations(fault, fleet)
    during = moved(baseline, run, *DURING)
    assert must <= during, f"{kind}: expected to move but did not: {sorted(must - during)}"
    stray = {(m, e) for m, e in during if e not in allowed}
    assert not stray, f"{kind} moved series outside its entities: {sorted(stray)}"
    listed = set(truth(fault, fleet)["signals"])
    assert {m for m, _ in must} <= listed, "the truth file lists every signal that must move"
    # Nothing moves before the fault, and everything settles once it is over.
    assert moved(baseline, run, START, FAULT_AT) == set()
    assert moved(baseline, run, fault.end + 300, START + DURATION) == set()


def test_directions_of_key_signals(fleet: Fleet, baseline: Run, faulted: Faulted) -> None:
    def mean(run: Run, metric: str, entity: str) -> float:
        keys = [k for k in run.series if k[0] == metric and k[1] == entity]
        return sum(window_mean(run, k, *DURING) for k in keys)

    fault, run = faulted("gpu_underutilized")
    gpu = fleet.gpus[fault.target].id
    assert mean(run, "hw.gpu.utilization", gpu) < 0.6 * mean(baseline, "hw.gpu.utilization", gpu)

    fault, run = faulted("gpu_noisy_neighbor")
    gpu = fleet.gpus[fault.target].id
    assert mean(run, "hw.gpu.utilization", gpu) > 0.9

    fault, run = faulted("cpu_noisy_neighbor")
    assert mean(run, "tailsight.host.pressure", fault.target) > 0.3
    assert mean(baseline, "tailsight.host.pressure", fault.target) < 0.05

    fault, run = faulted("cpu_saturation")
    own = [k for k in run.series if k[0] == "tailsight.process.cpu.utilization"]
    own = [k for k in own if k[1] == f"{fault.target}/{fault.pid}"]
    assert window_mean(run, own[0], *DURING) > 0.6  # its own threads took the node's cores
    assert window_mean(baseline, own[0], *DURING) < 0.2
    assert {r.service for r in fleet.replicas if r.pid == fault.pid} <= set(
        truth(fault, fleet)["affected_services"]
    )

    fault, run = faulted("port_congestion")
    port = fault.target
    speed = fleet.ports[port].speed_bps / 8
    io = [
        k
        for k in run.series
        if k[0] == "tailsight.switch.port.io"
        and k[1] == port
        and ("network.io.direction", "transmit") in k[2]
    ]
    assert window_mean(run, io[0], *DURING) > 0.85 * speed  # near line rate toward the node
    assert window_mean(baseline, io[0], *DURING) < 0.5 * speed
    ecn = mean(run, "tailsight.switch.port.ecn_marked", port)
    assert ecn > 100 * max(1.0, mean(baseline, "tailsight.switch.port.ecn_marked", port))

    fault, run = faulted("gpu_dip")
    gpu = fleet.gpus[fault.target].id
    assert mean(run, "hw.gpu.utilization", gpu) < 0.6 * mean(baseline, "hw.gpu.utilization", gpu)


def test_call_delay_grows_client_spans_and_not_the_callees_server_spans(fleet: Fleet) -> None:
    from dataclasses import replace

    from tailsight.sim.latency import sample_requests
    from tailsight.sim.scenario import Scenario, Simulation
    from tests.sim.conftest import make_fault
    from tests.sim.simdata import SEED, SPEC

    fault = replace(make_fault(fleet, "call_delay"), start=START + 60, end=START + 600, ramp_s=10)
    sim = Simulation(Scenario(SEED, START, 400.0, SPEC, (fault,), spans_per_window=80.0))
    callee = next(r for r in sim.fleet.replicas if r.pid == fault.pid)
    gaps: list[float] = []
    server_ms: list[float] = []
    while sim.engine.t < START + 390:
        state = sim.step()
        reqs = sample_requests(state, sim.fleet, sim.probabilities, sim.rng)
        by_parent = {r.parent_id: r for r in reqs if r.service == callee.service}
        for r in reqs:
            child = by_parent.get(r.span_id)
            if r.client_of == callee.service and child is not None and child.pid == callee.pid:
                assert child.trace_id == r.trace_id and r.service != callee.service
                if state.t > START + 120:
                    gaps.append((r.duration_ns - child.duration_ns) / 1e6)
                    server_ms.append(child.duration_ns / 1e6)
    assert gaps and min(gaps) > 1000.0  # the delay sits on the wire
    assert max(server_ms) < 1000.0  # and not in the callee
    info = truth(fault, fleet)
    assert info["cause_kind"] == "network_congestion"
    assert info["culprit"] == {"type": "pod", "id": f"inference/{callee.service}-{callee.pid:x}"}
    assert callee.service not in info["affected_services"] and info["affected_services"]
