"""Simulated spans stored in-process: the simulator's OTLP requests decoded as ingest decodes them.

Faster than sending them through a `tailsight up` (no HTTP, no spool), for tests and the
SLO benchmark that need many realistic spans; metrics are not generated.
"""

from __future__ import annotations

from tailsight.sim.direct import store_simulation
from tailsight.sim.scenario import Scenario, Simulation
from tailsight.storage import Store


def store_sim_spans(store: Store, scenario: Scenario, ticks_per_batch: int = 30) -> int:
    """Run ``scenario`` and insert its spans into ``store``; the number of spans."""
    return store_simulation(
        store, Simulation(scenario), scenario.end, ticks_per_batch, metric_every=10**9
    )
