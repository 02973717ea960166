"""Attribution: rank the causes of one incident from its frames.

Steps: (1) traces: when the spiking service's calls into a downstream service account
for most of the added latency, the cause is looked for in that service (the cause's
``service``); (2) blast radius: which replicas got slow; (3) candidates from the
topology with their evidence; (4) scores from evidence strength and how well each
candidate's reach matches the blast radius; (5) the raw score calibrated to the chance
the cause is right (``calibration``). Nothing over the calibrated threshold gives one
``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from tailsight.analysis import candidates as cand
from tailsight.analysis import cpu, llm, load
from tailsight.analysis.calibration import Calibration, shipped
from tailsight.analysis.evidence import Phases, change
from tailsight.analysis.scoring import BlastRadius, score
from tailsight.analysis.topology import Topology
from tailsight.analysis.traces import wire_delay
from tailsight.model import Cause, Entity, Incident

MIN_SCORE = 0.05  # raw: below it a candidate is noise, whatever the calibration says
# What slows a replica from beside or within; an LLM engine's queue is behind any of them.
CONTENTION = ("noisy_neighbor", "cpu_saturation", "gpu_underutilized")


@dataclass(frozen=True)
class IncidentFrames:
    """Everything attribution reads about one incident, fetched by ``storage`` queries.

    ``replicas``: per replica and window requests and p99 (``replica_latency_windows``);
    ``values``: metric series with per-window ``value`` (``series.with_values``);
    ``requests``: the attributed service's request count per window.
    """

    topology: Topology
    replicas: pd.DataFrame
    values: pd.DataFrame
    requests: pd.Series
    downstream_of: str = ""  # the spiking service, when the cause was sought downstream
    notes: tuple[str, ...] = field(default=())
    # Per operation and window: requests and p99 (``operation_latency_windows``); optional.
    operations: pd.DataFrame | None = None
    # The spiking service's CLIENT spans against their callees' (``client_server_gaps``).
    gaps: pd.DataFrame | None = None
    # Its LLM latency SLIs per model and window (``llm_latency_windows``); generative services.
    llm: pd.DataFrame | None = None


def downstream_target(
    downstream: pd.DataFrame, added_ms: float, share: float = 0.5, min_rise: float = 1.5
) -> str | None:
    """The downstream service holding most of the added latency, from ``downstream_latency`` rows."""
    if downstream.empty or added_ms <= 0:
        return None
    best, best_added = None, 0.0
    for name, rows in downstream.groupby("downstream"):
        phases = dict(zip(rows["phase"], rows["p99_ms"], strict=True))
        before, during = phases.get("before"), phases.get("during")
        if before is None or during is None or before <= 0:
            continue
        added = float(during) - float(before)
        if during / before >= min_rise and added >= share * added_ms and added > best_added:
            best, best_added = str(name), added
    return best


def blast_radius(
    replicas: pd.DataFrame, service: str, phases: Phases, ratio: float = 1.5
) -> BlastRadius:
    """Replicas of ``service`` whose own p99 rose ``ratio`` times over their own baseline."""
    mine = replicas[replicas["service"] == service]
    seen: set[str] = set()
    slow: set[str] = set()
    for (host, pid), rows in mine.groupby(["host", "pid"]):
        ch = change(rows.set_index("window")["p99_ms"], phases)
        if ch is None:
            continue
        rid = f"{host}/{pid}"
        seen.add(rid)
        if ch.baseline > 0 and ch.during / ch.baseline >= ratio:
            slow.add(rid)
    return BlastRadius(frozenset(slow), frozenset(seen))


def evidence_hosts(
    replicas: pd.DataFrame, service: str, phases: Phases, limit: int = 32, replica: str = ""
) -> list[str]:
    """The hosts whose telemetry attribution reads: those of the slow replicas.

    A candidate that reaches no slow replica scores 0 (``BlastRadius.fit``), so a
    service with hundreds of replicas need not have every node's series read. When no
    replica is slow on its own, or too many are, all hosts (up to ``limit``) are kept.
    An incident of one ``replica`` reads that replica's host.
    """
    blast = focused(blast_radius(replicas, service, phases), replica)
    hosts = sorted({rid.rsplit("/", 1)[0] for rid in blast.slow})
    if not hosts:
        hosts = sorted({str(h) for h in replicas.loc[replicas["service"] == service, "host"] if h})
    return hosts[:limit]


def focused(blast: BlastRadius, replica: str) -> BlastRadius:
    """The blast radius of an incident of one ``replica``: that replica is the slow one.

    Its few sampled requests a window rarely lift its own p99 1.5x in every window, but
    detection already found it slow (``analysis.narrow``).
    """
    if not replica:
        return blast
    return BlastRadius(frozenset({replica}), blast.seen | {replica})


def rank_causes(
    incident: Incident,
    frames: IncidentFrames,
    phases: Phases,
    calibration: Calibration | None = None,
) -> tuple[Cause, ...]:
    """The ranked causes of ``incident``; the cause service is the topology's service.

    ``calibration``: raw score to probability, and the threshold under which a cause is
    not named (default: the shipped ``calibration.json``; ``calibration.RAW`` keeps raw
    scores, as the refit needs).
    """
    calibration = shipped() if calibration is None else calibration
    topo = frames.topology
    blast = blast_radius(frames.replicas, topo.service, phases)
    if incident.service == topo.service:
        blast = focused(blast, incident.replica)
    values = cand.MetricFrames(frames.values)
    found = [
        *cand.network_congestion(topo, values, phases),
        *cand.gpu_neighbors(topo, values, phases),
        *cpu.cpu_neighbors(topo, values, phases),
        *cpu.cpu_saturation(topo, values, phases),
        *cand.gpu_idle(topo, values, phases),
        *load.load_surge(topo, frames.requests, phases, frames.operations),
        *llm.queue_saturation(topo, frames.llm, phases),
    ]
    if frames.gaps is not None:
        # Reach: the spiking service's replicas, which made the calls.
        callers = blast_radius(frames.replicas, topo.service, phases).seen or frozenset(
            r.id for r in topo.replicas
        )
        added = incident.p99_ms - incident.baseline_p99_ms
        found.extend(wire_delay(frames.gaps, added, frozenset(callers)))
    found = _explained_away(found)
    causes: list[Cause] = []
    where = f" in downstream {topo.service}" if frames.downstream_of else ""
    leads: list[Cause] = []  # under the calibrated threshold: not named, told in ``unknown``
    for c in found:
        raw = score(c.strength, blast.fit(c.reach))
        if raw < MIN_SCORE:
            continue
        p = calibration(c.kind, raw)
        (causes if p >= calibration.threshold else leads).append(
            Cause(
                kind=c.kind,
                score=round(p, 4),
                raw_score=round(raw, 4),
                service=c.service or topo.service,
                entity=Entity(c.entity_type, c.entity_id)
                if c.entity_type and c.entity_id
                else None,
                summary=c.summary + where + _radius_text(blast),
                evidence=c.evidence,
            )
        )
    causes = _best_per_entity(causes)
    if not causes:
        causes.append(
            Cause.unknown(
                topo.service,
                f"p99 {incident.p99_ms:.0f} ms vs {incident.baseline_p99_ms:.0f} ms baseline"
                f"{where}; "
                + (
                    _lead_text(leads, calibration.threshold)
                    if leads
                    else "no congestion, contention, CPU saturation, idle GPU or load rise on its path"
                )
                + _radius_text(blast),
            )
        )
    # Isotonic maps are steps: equal calibrated scores keep the raw score's order.
    return tuple(sorted(causes, key=lambda c: (-c.score, -(c.raw_score or 0.0))))


def _lead_text(leads: list[Cause], threshold: float) -> str:
    best = max(leads, key=lambda c: (c.score, c.raw_score or 0.0))
    what = f"{best.kind} at {best.entity.id}" if best.entity else best.kind
    return (
        f"the best lead, {what}, is right {best.score:.0%} of the time at its score, "
        f"under the {threshold:.0%} needed to name it"
    )


def _explained_away(found: list[cand.Candidate]) -> list[cand.Candidate]:
    """An idle GPU is a symptom, not a cause, where a neighbor or congestion reaches that replica.

    Such a GPU waits on the network or shares its SMs; naming it too would blame a GPU
    that merely dipped at the same time (a distractor of the corpus does exactly that).
    Likewise an LLM engine's queue (``llm.queue_saturation``) is a symptom where a
    neighbor, its own CPU shortage or a starved GPU slows a replica: the queue is behind it.
    """
    blockers = [
        c for c in found if c.kind in ("noisy_neighbor", "network_congestion") and c.strength >= 0.5
    ]
    contention = [c for c in found if c.kind in CONTENTION and c.strength >= 0.5]
    return [
        c
        for c in found
        if not (c.kind == "gpu_underutilized" and any(c.reach & b.reach for b in blockers))
        and not (llm.is_queueing(c) and any(c.reach & b.reach for b in contention))
    ]


def _best_per_entity(causes: list[Cause]) -> list[Cause]:
    best: dict[tuple[str, str | None], Cause] = {}
    for c in causes:
        key = (c.kind, c.entity.id if c.entity else None)
        if key not in best or c.score > best[key].score:
            best[key] = c
    return list(best.values())


def _radius_text(blast: BlastRadius) -> str:
    if not blast.seen:
        return ""
    return f" ({len(blast.slow)} of {len(blast.seen)} replicas slow)"
