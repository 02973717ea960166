"""Running small scenarios in-process and reading back what they emit, for the sim tests.

The series come from decoding the real ``ExportMetricsServiceRequest`` messages the
simulator sends, keyed by the CONTRACT §4 entity they belong to, so the tests check the
wire output rather than internal state.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from tailsight.sim.faults import Fault
from tailsight.sim.fleet import FleetSpec
from tailsight.sim.latency import sample_requests
from tailsight.sim.scenario import Scenario, Simulation
from tests.timebase import recent_noon

SPEC = FleetSpec(
    leaves=2,
    serving_nodes_per_leaf=2,
    training_nodes_per_leaf=1,
    gpus_per_node=(4,),
    services={"llm-gateway": 2, "embedder": 2, "reranker": 2, "asr": 2},
)
START = recent_noon()  # inside the store's TTL, same time of day every run
SEED = 11
FAULT_AT = START + 300.0
FAULT_S = 480.0
DURATION = 1200.0

SeriesKey = tuple[str, str, tuple[tuple[str, object], ...]]  # metric, entity, attributes


@dataclass
class Run:
    """One scenario's output: metric series by entity, and request latencies by service and tick."""

    series: dict[SeriesKey, dict[float, float]]
    kinds: dict[str, str]
    latencies: dict[str, list[tuple[float, float]]]  # service -> (tick end, ms)


def _entity(resource: dict[str, object], attrs: dict[str, object]) -> str:
    if "tailsight.switch.name" in resource:
        return f"{resource['tailsight.switch.name']}/{attrs['network.interface.name']}"
    host = str(resource["host.name"])
    if "process.pid" in attrs:
        return f"{host}/{attrs['process.pid']}"
    if "hw.id" in attrs:
        return f"{host}/{attrs['hw.id']}"
    if "network.interface.name" in attrs:
        return f"{host}/{attrs['network.interface.name']}"
    return host


def _value(v: object) -> object:
    kind = v.WhichOneof("value")  # type: ignore[attr-defined]
    return getattr(v, kind)


def run_scenario(faults: list[Fault], spans_per_window: float = 40.0, metrics: bool = True) -> Run:
    """Run the test fleet for 20 minutes with ``faults``; same seed every time."""
    scenario = Scenario(
        seed=SEED,
        start=START,
        duration_s=DURATION,
        fleet=SPEC,
        faults=tuple(faults),
        spans_per_window=spans_per_window,
    )
    sim = Simulation(scenario)
    series: dict[SeriesKey, dict[float, float]] = defaultdict(dict)
    kinds: dict[str, str] = {}
    latencies: dict[str, list[tuple[float, float]]] = defaultdict(list)
    while sim.engine.t < scenario.end - 1:
        state = sim.step()
        for r in sample_requests(state, sim.fleet, sim.probabilities, sim.rng):
            if not r.client_of:  # a service's latency is its SERVER spans'
                latencies[r.service].append((state.t, r.duration_ns / 1e6))
        if not metrics:
            continue
        sim.metrics.add_tick(state)
        req = sim.metrics.flush()
        for rm in req.resource_metrics:
            resource = {kv.key: _value(kv.value) for kv in rm.resource.attributes}
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    kinds[m.name] = kind
                    for dp in getattr(m, kind).data_points:
                        attrs = {kv.key: _value(kv.value) for kv in dp.attributes}
                        key = (m.name, _entity(resource, attrs), tuple(sorted(attrs.items())))
                        series[key][dp.time_unix_nano / 1e9] = dp.as_double
    return Run(dict(series), kinds, dict(latencies))


def window_mean(run: Run, key: SeriesKey, lo: float, hi: float) -> float:
    """Mean of a gauge, or mean rate per second of a cumulative sum, over ticks in ``(lo, hi]``."""
    points = run.series.get(key, {})
    ts = sorted(t for t in points if lo < t <= hi)
    if not ts:
        return 0.0
    if run.kinds[key[0]] == "sum":
        before = max((t for t in points if t <= lo), default=None)
        first = points[before] if before is not None else 0.0
        return (points[ts[-1]] - first) / (ts[-1] - (before if before is not None else START))
    return float(np.mean([points[t] for t in ts]))


def moved(base: Run, run: Run, lo: float, hi: float, rel: float = 0.05) -> set[tuple[str, str]]:
    """(metric, entity) pairs whose mean over ``(lo, hi]`` differs from the baseline run's."""
    out: set[tuple[str, str]] = set()
    for key in set(base.series) | set(run.series):
        a, b = window_mean(base, key, lo, hi), window_mean(run, key, lo, hi)
        floor = 1e-5 if run.kinds.get(key[0], base.kinds.get(key[0])) == "gauge" else 0.5
        if abs(b - a) > max(floor, rel * abs(a)):
            out.add((key[0], key[1]))
    return out


def p99(run: Run, service: str, lo: float, hi: float) -> float:
    values = [ms for t, ms in run.latencies.get(service, []) if lo < t <= hi]
    return float(np.percentile(values, 99))
