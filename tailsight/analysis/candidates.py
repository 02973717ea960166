"""Candidate causes of one service's spike, each with its evidence, strength and reach.

Every function takes the service's :class:`Topology`, the metric values frame (rows of
``analysis.series.with_values``) and the :class:`Phases` to compare, and returns the
candidates it finds evidence for. ``reach`` names the replicas a candidate can slow
down, so blast radius can be checked against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tailsight.analysis.evidence import Change, Phases, change, change_of, change_or_new, per_window
from tailsight.analysis.scoring import sig
from tailsight.analysis.topology import Replica, Tenant, Topology
from tailsight.model import Evidence


@dataclass(frozen=True)
class Candidate:
    """One possible cause before scoring."""

    kind: str
    entity_type: str | None
    entity_id: str | None
    strength: float
    reach: frozenset[str]
    summary: str
    evidence: tuple[Evidence, ...]
    service: str = ""  # where the cause sits, when not the attributed service (traces)


# Congestion counters: metric, floor (per second) keeping a near-zero baseline sane.
SWITCH_SIGNALS = (
    ("tailsight.switch.port.ecn_marked", 50.0),
    ("tailsight.switch.port.discards", 5.0),
    ("tailsight.switch.port.pfc.pause_frames", 50.0),
    ("tailsight.switch.port.errors", 5.0),
)
# A port's own congestion: pauses it *sends* count, pauses it *receives* do not (the host
# at the other end is throttling it: the congestion sits in the NIC).
PORT_OWN_SIGNALS = tuple(
    s for s in SWITCH_SIGNALS if s[0] != "tailsight.switch.port.pfc.pause_frames"
)
PAUSES = "tailsight.switch.port.pfc.pause_frames"
NIC_SIGNALS = (
    ("tailsight.rdma.ecn_marked", 50.0),
    ("tailsight.rdma.cnp.sent", 50.0),
    ("tailsight.rdma.cnp.handled", 50.0),
    ("tailsight.nic.pfc.pause_frames", 50.0),
    ("system.network.packet.dropped", 5.0),
    ("system.network.errors", 5.0),
    ("tailsight.rdma.out_of_sequence", 5.0),
)
HOST_SIGNALS = (("tailsight.tcp.retransmits", 5.0),)


class MetricFrames:
    """Metric values split by metric name once, for the many look-ups attribution makes."""

    def __init__(self, values: pd.DataFrame) -> None:
        values = values.dropna(subset=["value"]) if not values.empty else values
        self._by_metric = {
            str(m): g.reset_index(drop=True) for m, g in values.groupby("metric", sort=False)
        }
        self._empty = values.iloc[:0]
        self._groups: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}

    def rows(self, metric: str, **match: str) -> pd.DataFrame:
        """The rows of ``metric`` whose columns equal ``match``."""
        frame = self._by_metric.get(metric)
        if frame is None:
            return self._empty
        if not match:
            return frame
        # The first condition (a host, a switch) picks a small group through an index
        # built once per metric and column: a fleet has thousands of series per metric.
        column, wanted = next(iter(match.items()))
        groups = self._groups.get((metric, column))
        if groups is None:
            groups = {str(k): g for k, g in frame.groupby(column, sort=False)}
            self._groups[(metric, column)] = groups
        frame = groups.get(wanted, self._empty)
        rest = list(match.items())[1:]
        if not rest or frame.empty:
            return frame
        mask = np.ones(len(frame), dtype=bool)
        for col, value in rest:
            mask &= (frame[col] == value).to_numpy()
        return frame[mask]

    def unit(self, metric: str) -> str:
        """The unit of ``metric`` as evidence shows it: per second for sums."""
        frame = self._by_metric.get(metric)
        if frame is None or frame.empty:
            return ""
        unit, kind = str(frame["unit"].iloc[0]), str(frame["kind"].iloc[0])
        return f"{unit}/s" if kind == "sum" else unit


def _rows(values: MetricFrames, metric: str, **match: str) -> pd.DataFrame:
    return values.rows(metric, **match)


def _unit(values: MetricFrames, metric: str) -> str:
    return values.unit(metric)


def _evidence(metric: str, entity: str, ch: Change, unit: str) -> Evidence:
    return Evidence(metric, entity, round(ch.baseline, 4), round(ch.during, 4), unit)


def _signals(
    values: MetricFrames,
    signals: Iterable[tuple[str, float]],
    entity: str,
    phases: Phases,
    **match: str,
) -> tuple[float, list[Evidence], str]:
    """Strength of the strongest signal plus a quarter of the rest, evidence, best metric."""
    scored: list[tuple[float, Evidence]] = []
    for metric, floor in signals:
        ch = change_of(_rows(values, metric, **match), phases)
        if ch is not None and ch.rise(floor) >= 2.0:
            scored.append(
                (sig(ch.rise(floor)), _evidence(metric, entity, ch, _unit(values, metric)))
            )
    if not scored:
        return 0.0, [], ""
    scored.sort(key=lambda s: -s[0])
    strength = scored[0][0] + 0.25 * sum(s for s, _ in scored[1:])
    return strength, [e for _, e in scored], scored[0][1].metric


def _utilization(
    values: MetricFrames,
    io_metric: str,
    speed_metric: str,
    entity: str,
    phases: Phases,
    **match: str,
) -> tuple[float, Evidence | None]:
    """Link utilization (bits/s over speed): strength when it nears capacity during the spike."""
    io = per_window(_rows(values, io_metric, **match))
    speed = per_window(_rows(values, speed_metric, **match))
    if io.empty or speed.empty or float(speed.max()) <= 0:
        return 0.0, None
    util = (io * 8.0 / float(speed.max())).clip(upper=1.5)
    ch = change(util, phases)
    if ch is None or ch.during < 0.85 or ch.delta < 0.15:
        return 0.0, None
    return 1.0 + 3.0 * (ch.during - 0.85), _evidence(f"{io_metric}:utilization", entity, ch, "1")


def network_congestion(topo: Topology, values: MetricFrames, phases: Phases) -> list[Candidate]:
    """Switch ports and NICs on the path of the service's replicas whose congestion counters rose."""
    out: list[Candidate] = []
    for link in topo.links:
        reach = frozenset(r.id for r in topo.replicas_on_host(link.host))
        nic_strength, nic_ev, nic_metric = _signals(
            values, NIC_SIGNALS, link.nic_id, phases, host=link.host, interface=link.interface
        )
        host_strength, host_ev, _ = _signals(
            values, HOST_SIGNALS, link.host, phases, host=link.host
        )
        util_s, util_ev = _utilization(
            values,
            "system.network.io",
            "tailsight.nic.speed",
            link.nic_id,
            phases,
            host=link.host,
            interface=link.interface,
        )
        nic_total = nic_strength + 0.5 * host_strength + util_s
        port_strength, port_ev, port_metric = _signals(
            values, PORT_OWN_SIGNALS, link.port_id, phases, switch=link.switch, interface=link.port
        )
        sent_s, sent_ev, _ = _signals(
            values, ((PAUSES, 50.0),), link.port_id, phases,
            switch=link.switch, interface=link.port, direction="transmit",
        )  # fmt: skip
        got_s, got_ev, _ = _signals(
            values, ((PAUSES, 50.0),), link.port_id, phases,
            switch=link.switch, interface=link.port, direction="receive",
        )  # fmt: skip
        port_strength += sent_s
        port_ev += sent_ev
        putil_s, putil_ev = _utilization(
            values,
            "tailsight.switch.port.io",
            "tailsight.switch.port.speed",
            link.port_id,
            phases,
            switch=link.switch,
            interface=link.port,
        )
        port_total = port_strength + putil_s
        extra = [e for e in (util_ev,) if e] + host_ev
        if port_total > 0:
            evidence = port_ev + [e for e in (putil_ev,) if e] + nic_ev + extra
            first = evidence[0]
            out.append(
                Candidate(
                    "network_congestion",
                    "switch_port",
                    link.port_id,
                    port_total + 0.5 * nic_total,
                    reach,
                    f"{_short(port_metric or first.metric)} on {link.port_id} "
                    f"{_rise_text(first)} during the spike",
                    tuple(evidence),
                )
            )
        elif nic_total > 0 or got_s > 0:
            # The two ends disagree: the port only receives pauses, the NIC sends them
            # (or drops): the host side cannot keep up, the port is its victim.
            nic_total += 0.5 * got_s
            evidence = nic_ev + got_ev + extra
            first = evidence[0]
            out.append(
                Candidate(
                    "network_congestion",
                    "nic",
                    link.nic_id,
                    nic_total,
                    reach,
                    f"{_short(nic_metric or first.metric)} on {link.nic_id} {_rise_text(first)} "
                    "during the spike",
                    tuple(evidence),
                )
            )
    return out


def gpu_neighbors(topo: Topology, values: MetricFrames, phases: Phases) -> list[Candidate]:
    """Other processes on the service's GPUs whose share of the GPU rose."""
    out: list[Candidate] = []
    mine = {(r.host, r.pid) for r in topo.replicas}
    for (host, hw_id), tenants in topo.tenants.items():
        reach = topo.replicas_on_gpu(host, hw_id)
        if not reach:
            continue
        for tenant in tenants:
            if (tenant.host, tenant.pid) in mine:
                continue
            if not tenant.pid:
                found = _pod_neighbor(tenant, values, phases, reach)
                out.extend([found] if found else [])
                continue
            gpu_rows = _rows(values, "tailsight.gpu.process.utilization", host=host, hw_id=hw_id)
            ch = change_or_new(gpu_rows[gpu_rows["pid"] == tenant.pid], gpu_rows, phases)
            if ch is None or ch.delta < 0.08:
                continue
            etype, eid = tenant.entity
            ev = [_evidence("tailsight.gpu.process.utilization", eid, ch, "1")]
            served = [
                _rows(
                    values, "tailsight.gpu.process.utilization", host=host, hw_id=hw_id, pid=r.pid
                )
                for r in reach
            ]
            own = change_of(pd.concat(served), phases) if served else None
            if own is not None:
                ev.append(
                    _evidence("tailsight.gpu.process.utilization", f"{host}/{hw_id}", own, "1")
                )
            out.append(
                Candidate(
                    "noisy_neighbor",
                    etype,
                    eid,
                    min(3.0, ch.delta * 6.0),
                    frozenset(r.id for r in reach),
                    f"{eid} took {ch.during:.0%} of GPU {host}/{hw_id} (was {ch.baseline:.0%})",
                    tuple(ev),
                )
            )
    return out


def _gpu_busy(rows: pd.DataFrame) -> pd.Series:
    """``hw.gpu.utilization`` per window, once per GPU however many pods it is published for."""
    known = rows.dropna(subset=["value"])
    busy = known.groupby("window")["value"].max()
    return busy.set_axis(pd.DatetimeIndex(busy.index))


def _pod_neighbor(
    tenant: Tenant, values: MetricFrames, phases: Phases, reach: frozenset[Replica]
) -> Candidate | None:
    """A pod that came onto the GPU as the spike began, and the GPU got busier with it.

    dcgm-exporter knows pods, not per-process shares: it publishes the GPU's values once
    per pod holding it. A pod absent before the onset and present during it, while the
    whole GPU's utilization rose, is the neighbor; the rise is its share. (A pod that was
    there all along and got busier cannot be told from the service's own work.)
    """
    rows = _rows(values, "hw.gpu.utilization", host=tenant.host, hw_id=tenant.hw_id)
    if rows.empty:
        return None
    own = rows[rows["pod"] == tenant.pod]
    present = change_or_new(own.assign(value=own["value"].notna().astype(float)), rows, phases)
    busy = change(_gpu_busy(rows), phases)
    if present is None or busy is None or present.baseline > 0.5 or present.during < 0.5:
        return None
    if busy.delta < 0.08:
        return None
    etype, eid = tenant.entity
    gpu_id = f"{tenant.host}/{tenant.hw_id}"
    return Candidate(
        "noisy_neighbor",
        etype,
        eid,
        min(3.0, busy.delta * 6.0),
        frozenset(r.id for r in reach),
        f"pod {eid} came onto GPU {gpu_id}, which rose to {busy.during:.0%} busy "
        f"(was {busy.baseline:.0%})",
        (_evidence("hw.gpu.utilization", gpu_id, busy, "1"),),
    )


def gpu_idle(topo: Topology, values: MetricFrames, phases: Phases) -> list[Candidate]:
    """The service's GPUs went idle while latency rose: the bottleneck sits before the GPU."""
    out: list[Candidate] = []
    for replica, hw_ids in topo.gpus.items():
        for hw_id in hw_ids:
            ch = change_of(
                _rows(
                    values,
                    "tailsight.gpu.process.utilization",
                    host=replica.host,
                    hw_id=hw_id,
                    pid=replica.pid,
                ),
                phases,
            )
            if ch is None:
                ch = change(
                    _gpu_busy(_rows(values, "hw.gpu.utilization", host=replica.host, hw_id=hw_id)),
                    phases,
                )
            if ch is None or ch.baseline < 0.1 or ch.during > 0.8 * ch.baseline:
                continue
            drop = 1.0 - ch.during / ch.baseline
            entity = f"{replica.host}/{hw_id}"
            ev = [_evidence("tailsight.gpu.process.utilization", entity, ch, "1")]
            strength = min(3.0, drop * 4.0)
            own_cpu = change_of(
                _rows(
                    values, "tailsight.process.cpu.utilization", host=replica.host, pid=replica.pid
                ),
                phases,
            )
            if own_cpu is not None and own_cpu.delta > 0.1:
                ev.append(_evidence("tailsight.process.cpu.utilization", replica.id, own_cpu, "1"))
                strength += min(1.0, own_cpu.delta * 2.0)
            out.append(
                Candidate(
                    "gpu_underutilized",
                    "gpu",
                    entity,
                    strength,
                    frozenset({replica.id}),
                    f"GPU {entity} fell to {ch.during:.0%} busy (was {ch.baseline:.0%}) while latency rose",
                    tuple(ev),
                )
            )
    return out


def _short(metric: str) -> str:
    names = {
        "tailsight.switch.port.ecn_marked": "ECN marks",
        "tailsight.rdma.ecn_marked": "ECN marks",
        "tailsight.switch.port.discards": "discards",
        "tailsight.switch.port.pfc.pause_frames": "PFC pauses",
        "tailsight.nic.pfc.pause_frames": "PFC pauses",
        "tailsight.rdma.cnp.sent": "CNPs sent",
        "tailsight.rdma.cnp.handled": "CNPs handled",
        "system.network.packet.dropped": "dropped packets",
        "tailsight.tcp.retransmits": "TCP retransmits",
    }
    if metric.endswith(":utilization"):
        return "link utilization"
    return names.get(metric, metric)


def _unit_text(unit: str) -> str:
    """A UCUM unit as a reader says it: ``{packet}/s`` → `` packets/s``, ``By/s`` → `` B/s``."""
    if unit.startswith("{"):
        word, _, rest = unit[1:].partition("}")
        return f" {word}s{rest}"
    return " " + unit.replace("By", "B") if unit else ""


def _rise_text(ev: Evidence) -> str:
    if ev.unit == "1":
        return f"reached {ev.during:.0%} (was {ev.baseline:.0%})"
    if ev.baseline > 0:
        return f"rose {ev.during / ev.baseline:.0f}x to {ev.during:,.0f}{_unit_text(ev.unit)}"
    return f"rose from 0 to {ev.during:,.0f}{_unit_text(ev.unit)}"


__all__ = [
    "Candidate",
    "MetricFrames",
    "Replica",
    "gpu_idle",
    "gpu_neighbors",
    "network_congestion",
]
