"""CPU candidates: another process taking the node's CPU, or the service's own process short of it.

Split from ``candidates`` (same inputs: the :class:`Topology`, the metric values and the
:class:`Phases`; same :class:`Candidate` output).
"""

from __future__ import annotations

from tailsight.analysis.candidates import Candidate, MetricFrames, _evidence, _rows
from tailsight.analysis.evidence import Phases, change_of, change_or_new
from tailsight.analysis.topology import Topology


def cpu_neighbors(topo: Topology, values: MetricFrames, phases: Phases) -> list[Candidate]:
    """Other processes on the service's nodes whose CPU use rose with the node's CPU pressure."""
    out: list[Candidate] = []
    for host in topo.hosts:
        reach = frozenset(r.id for r in topo.replicas_on_host(host))
        serving = {r.pid for r in topo.replicas_on_host(host)}
        pressure = change_of(
            _rows(values, "tailsight.host.pressure", host=host, resource="cpu"), phases
        )
        procs = _rows(values, "tailsight.process.cpu.utilization", host=host)
        for pid, rows in procs.groupby("pid"):
            if str(pid) in serving:
                continue
            ch = change_or_new(rows, procs, phases)
            if ch is None or ch.delta < 0.15:
                continue
            pod, ns = str(rows["pod"].iloc[0] or ""), str(rows["namespace"].iloc[0] or "")
            etype, eid = (
                ("pod", f"{ns or 'default'}/{pod}") if pod else ("process", f"{host}/{pid}")
            )
            strength = min(3.0, ch.delta * 3.0)
            ev = [_evidence("tailsight.process.cpu.utilization", eid, ch, "1")]
            if pressure is not None:
                ev.append(_evidence("tailsight.host.pressure", host, pressure, "1"))
                strength += min(1.5, max(0.0, pressure.delta) * 3.0)
            out.append(
                Candidate(
                    "noisy_neighbor",
                    etype,
                    eid,
                    strength,
                    reach,
                    f"{eid} rose to {ch.during:.0%} CPU on {host} (was {ch.baseline:.0%})",
                    tuple(ev),
                )
            )
    return out


def cpu_saturation(topo: Topology, values: MetricFrames, phases: Phases) -> list[Candidate]:
    """The service's own serving process took much more of its node's CPU while latency rose.

    The process (or its pod) is short of CPU by its own doing: its threads use up the
    node's cores or its cgroup limit. Another process rising on the same node is a
    neighbor instead (``cpu_neighbors``); where both rise, their strengths rank them.
    """
    out: list[Candidate] = []
    for replica in topo.replicas:
        rows = _rows(
            values, "tailsight.process.cpu.utilization", host=replica.host, pid=replica.pid
        )
        ch = change_of(rows, phases)
        if ch is None or ch.delta < 0.15:
            continue
        pod, ns = str(rows["pod"].iloc[0] or ""), str(rows["namespace"].iloc[0] or "")
        etype, eid = ("pod", f"{ns or 'default'}/{pod}") if pod else ("process", replica.id)
        strength = min(3.0, ch.delta * 3.0)
        ev = [_evidence("tailsight.process.cpu.utilization", eid, ch, "1")]
        pressure = change_of(
            _rows(values, "tailsight.host.pressure", host=replica.host, resource="cpu"), phases
        )
        if pressure is not None:
            ev.append(_evidence("tailsight.host.pressure", replica.host, pressure, "1"))
            strength += min(1.5, max(0.0, pressure.delta) * 3.0)
        out.append(
            Candidate(
                "cpu_saturation",
                etype,
                eid,
                strength,
                frozenset({replica.id}),
                f"the serving process {eid} rose to {ch.during:.0%} of {replica.host}'s CPU "
                f"(was {ch.baseline:.0%}): short of CPU by its own work",
                tuple(ev),
            )
        )
    return out
