"""A sparse simulated week with known faults, written straight into a store, then analysed.

A week of the simulator at full detail is far too slow for a test, so the week is a few
short segments, one per fault, each with ten minutes of normal traffic before it (the
spike detector's baseline) and a few minutes after. Segments run through the real
simulator and the real OTLP decoding, inserted in-process (no receiver), then analysed
with the code behind ``tailsight analyze``. A neighbor process that comes back three
times gives the report a recurring culprit; one segment in the week before gives it a
week over week.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tailsight.alerts.slo import Slo, SpanSelector
from tailsight.app.analyze import analyze_range
from tailsight.pipeline.signals import SIGNALS
from tailsight.pipeline.spool import Record
from tailsight.pipeline.writer import decode_segment
from tailsight.reports.week import IsoWeek, last_full_week
from tailsight.sim.faults import Fault, random_fault, truth
from tailsight.sim.fleet import FleetSpec, build_fleet
from tailsight.sim.scenario import Scenario, Simulation
from tailsight.storage.store import Store

SPEC = FleetSpec(
    leaves=2,
    serving_nodes_per_leaf=2,
    training_nodes_per_leaf=1,
    gpus_per_node=(4,),
    services={"llm-gateway": 2, "embedder": 2, "reranker": 2, "asr": 2},
)
SEED = 5
WARMUP_S, FAULT_S, AFTER_S = 600.0, 240.0, 180.0
SPANS_PER_WINDOW = 25.0
# (day of the week, fault kind); the three gpu_noisy_neighbor faults share one intruder.
PLAN = (
    (0, "port_congestion"),
    (1, "gpu_noisy_neighbor"),
    (2, "cpu_noisy_neighbor"),
    (3, "gpu_noisy_neighbor"),
    (4, "gpu_underutilized"),
    (5, "gpu_noisy_neighbor"),
    (6, "load_surge"),
)
# Per service: latency threshold (ms) and target; varied so the report shows every status.
SLO_MS = {"llm-gateway": 2000.0, "embedder": 300.0, "reranker": 300.0, "asr": 1500.0}
SLO_TARGET = {"llm-gateway": 0.95, "embedder": 0.99, "reranker": 0.98, "asr": 0.95}


@dataclass(frozen=True)
class SimWeek:
    week: IsoWeek
    faults: tuple[Fault, ...]
    truths: tuple[dict[str, Any], ...]
    slos: tuple[Slo, ...]
    segments: tuple[tuple[float, float], ...]


def slos() -> tuple[Slo, ...]:
    """One latency SLO per service: its server spans under a threshold, 28-day window."""
    return tuple(
        Slo(
            name=f"{svc}-latency",
            display_name=f"{svc} under {ms:g} ms",
            service=svc,
            description="",
            target=SLO_TARGET[svc],
            window_s=28 * 86400,
            rolling=True,
            good=SpanSelector(svc, max_duration_ms=ms),
            total=SpanSelector(svc),
        )
        for svc, ms in SLO_MS.items()
    )


def slo_yaml(slo: Slo) -> str:
    """The CONTRACT §6 OpenSLO document of a latency SLO."""
    return f"""apiVersion: openslo/v1
kind: SLO
metadata: {{name: {slo.name}, displayName: {slo.display_name}}}
spec:
  service: {slo.service}
  budgetingMethod: Occurrences
  timeWindow: [{{duration: {slo.window}, isRolling: true}}]
  objectives: [{{displayName: {slo.display_name}, target: {slo.target}}}]
  indicator:
    metadata: {{name: {slo.service}-fast}}
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: tailsight
            spec: {{spans: {{service: {slo.service}, max_duration_ms: {slo.good.max_duration_ms:g}}}}}
        total: {{metricSource: {{type: tailsight, spec: {{spans: {{service: {slo.service}}}}}}}}}
"""


def _insert(store: Store, sim: Simulation, until: float) -> None:
    codes = {s.name: s.code for s in SIGNALS}
    for batch in sim.batches(until, ticks_per_batch=30):
        records = []
        if batch.spans is not None:
            records.append(Record(codes["traces"], batch.spans.SerializeToString(), batch.n_spans))
        if batch.metrics is not None:
            records.append(Record(codes["metrics"], batch.metrics.SerializeToString()))
        rows = decode_segment(records)
        for table in rows.batches:
            store.insert_columns(table.table, table.columns, list(table.names))


def _segment(store: Store, start: float, faults: tuple[Fault, ...], name: str) -> float:
    end = start + WARMUP_S + FAULT_S + AFTER_S
    scenario = Scenario(
        SEED, start, end - start, SPEC, faults, spans_per_window=SPANS_PER_WINDOW, name=name
    )
    _insert(store, Simulation(scenario), end)
    return end


def build_week(store: Store, now: datetime) -> SimWeek:
    """Backfill and analyse the sparse week (the last full ISO week before ``now``)."""
    week = last_full_week(now)
    fleet = build_fleet(SPEC, SEED)
    rng = random.Random(SEED)
    faults: list[Fault] = []
    segments = []
    neighbor: Fault | None = None
    for i, (day, kind) in enumerate(PLAN):
        start = week.days()[day].timestamp() + 12 * 3600
        fault = random_fault(kind, fleet, rng, start + WARMUP_S, FAULT_S, f"f{i + 1}")
        fault = replace(fault, intensity=1.0, ramp_s=10.0)
        if kind == "gpu_noisy_neighbor":
            if neighbor is None:
                neighbor = fault
            fault = replace(neighbor, id=fault.id, start=fault.start, end=fault.end)
        faults.append(fault)
        end = _segment(store, start, (fault,), f"week-{i}")
        segments.append((start, end))
    before = week.previous().days()[2].timestamp() + 12 * 3600
    pfault = replace(
        random_fault("port_congestion", fleet, rng, before + WARMUP_S, FAULT_S, "p1"),
        intensity=1.0,
        ramp_s=10.0,
    )
    segments.append((before, _segment(store, before, (pfault,), "week-before")))
    for start, end in segments:
        analyze_range(store, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
    return SimWeek(
        week, tuple(faults), tuple(truth(f, fleet) for f in faults), slos(), tuple(segments)
    )
