"""The demo's scenario: a day of history with one incident of every kind, then a fault every few minutes.

The last ``fine_s`` (2 h) of the backfill is sent at full resolution (metrics every
30 s; 40 sampled spans per service per 10 s window on average, 22 at the diurnal trough,
enough for the detector's 10 s p99) and holds one incident of each kind plus
distractors; older history is sent coarser (metrics every 5 minutes, 3 spans per window,
i.e. 18 a minute), enough for day-long views, SLOs and trends. That keeps the first
start under two minutes on two busy cores; live telemetry is sent at full resolution
(metrics every 10 s).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from tailsight.sim.faults import DISTRACTOR_KINDS, INCIDENT_KINDS, Fault, random_fault
from tailsight.sim.fleet import Fleet, FleetSpec, build_fleet
from tailsight.sim.scenario import Scenario

# The backfill's kinds, as the README lists them; the live phase cycles through all kinds.
DEMO_KINDS = (
    "port_congestion",
    "gpu_noisy_neighbor",
    "cpu_noisy_neighbor",
    "gpu_underutilized",
    "load_surge",
)

DEMO_FLEET = FleetSpec(
    leaves=2,
    spines=2,
    serving_nodes_per_leaf=3,
    training_nodes_per_leaf=1,
    gpus_per_node=(4,),
    services={"llm-gateway": 3, "embedder": 3, "reranker": 2, "asr": 2},
)


@dataclass(frozen=True)
class Resolution:
    """How densely one stretch of history is sent."""

    metric_every: int  # ticks between metric points
    spans_per_window: float


FINE = Resolution(metric_every=3, spans_per_window=40.0)
COARSE = Resolution(metric_every=30, spans_per_window=3.0)
LIVE = Resolution(metric_every=1, spans_per_window=40.0)


def demo_scenario(
    now: float, history_s: float = 86400.0, fine_s: float = 7200.0, seed: int = 2026
) -> Scenario:
    """History ending at ``now``: incidents of every kind in the fine part, some older ones."""
    start = float(int(now - history_s) // 10 * 10)
    fleet = build_fleet(DEMO_FLEET, seed)
    rng = random.Random(seed)
    faults: list[Fault] = []
    fine_start = now - min(fine_s, history_s)
    # One of each incident kind, 12-16 min apart, after 30 min of clean fine history.
    slot = fine_start + min(1800.0, fine_s / 6)
    gap = (now - 300 - slot) / len(DEMO_KINDS)
    for i, kind in enumerate(DEMO_KINDS):
        t = slot + i * gap + rng.uniform(0, gap * 0.2)
        faults.append(random_fault(kind, fleet, rng, t, min(480.0, gap * 0.6), f"f{i + 1}"))
    for i, kind in enumerate(DISTRACTOR_KINDS):
        t = slot + rng.uniform(0, now - 600 - slot)
        faults.append(random_fault(kind, fleet, rng, t, 420.0, f"d{i + 1}"))
    # Older incidents, for the day-long views.
    for i in range(3):
        t = start + 3600 + rng.uniform(0, max(0.0, fine_start - start - 7200))
        if t + 900 < fine_start:
            kind = rng.choice(DEMO_KINDS)
            faults.append(random_fault(kind, fleet, rng, t, 900.0, f"h{i + 1}"))
    faults.sort(key=lambda f: f.start)
    return Scenario(
        seed=seed,
        start=start,
        duration_s=now - start,
        fleet=DEMO_FLEET,
        faults=tuple(faults),
        name="demo",
    )


class LiveFaults:
    """Hands out a new fault every ``every_s`` seconds, cycling through all kinds."""

    def __init__(self, fleet: Fleet, every_s: float, seed: int = 7) -> None:
        self.fleet = fleet
        self.every_s = every_s
        self.rng = random.Random(seed)
        self._kinds = [*INCIDENT_KINDS, DISTRACTOR_KINDS[0], *INCIDENT_KINDS, DISTRACTOR_KINDS[1]]
        self._n = 0
        self._next: float | None = None

    def due(self, now: float) -> Fault | None:
        """A fault starting at ``now`` when one is due, else ``None``."""
        if self._next is None:
            self._next = now  # the first one at once: something to watch from the start
        if now < self._next:
            return None
        kind = self._kinds[self._n % len(self._kinds)]
        self._n += 1
        self._next = now + self.every_s
        duration = min(max(120.0, self.every_s * 0.6), 600.0)
        return random_fault(kind, self.fleet, self.rng, now, duration, f"live{self._n}")


# The demo's SLOs: 99% of requests under about twice each service's usual p99 (above its
# p99.9), and 99.5% of the gateway's requests served without error (its usual error rate
# is about 0.1%: a 99.9% target would sit at a burn rate of 1 and ticket on a quiet
# day), so that incidents burn budget and page while a quiet fleet stays within them.
DEMO_LATENCY_SLOS_MS = {"llm-gateway": 4000, "embedder": 250, "reranker": 600, "asr": 3000}


def demo_slos() -> list[dict[str, Any]]:
    """OpenSLO v1 documents (CONTRACT §6) for the demo fleet's services."""

    def doc(name: str, service: str, target: float, good: dict[str, Any]) -> dict[str, Any]:
        spans = {"service": service}
        return {
            "apiVersion": "openslo/v1",
            "kind": "SLO",
            "metadata": {"name": name},
            "spec": {
                "service": service,
                "budgetingMethod": "Occurrences",
                "timeWindow": [{"duration": "28d", "isRolling": True}],
                "objectives": [{"target": target}],
                "indicator": {
                    "metadata": {"name": f"{name}-sli"},
                    "spec": {
                        "ratioMetric": {
                            "counter": True,
                            "good": _spans({**spans, **good}),
                            "total": _spans(spans),
                        }
                    },
                },
            },
        }

    docs = [
        doc(f"{service}-latency", service, 0.99, {"max_duration_ms": ms})
        for service, ms in DEMO_LATENCY_SLOS_MS.items()
    ]
    docs.append(doc("llm-gateway-availability", "llm-gateway", 0.995, {"ok": True}))
    return docs


def _spans(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metricSource": {"type": "tailsight", "spec": {"spans": spec}}}
