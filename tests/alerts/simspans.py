"""Simulated spans stored in-process: the simulator's OTLP requests decoded as ingest decodes them.

Faster than sending them through a `tailsight up` (no HTTP, no spool), for tests and the
SLO benchmark that need many realistic spans; metrics are not generated.
"""

from __future__ import annotations

from tailsight.pipeline.decode_traces import decode_traces
from tailsight.sim.scenario import Scenario, Simulation
from tailsight.storage import Store


def store_sim_spans(store: Store, scenario: Scenario, ticks_per_batch: int = 30) -> int:
    """Run ``scenario`` and insert its spans into ``store``; the number of spans."""
    sim = Simulation(scenario)
    spans = 0
    for batch in sim.batches(scenario.end, ticks_per_batch, metric_every=10**9):
        if batch.spans is None:
            continue
        for table in decode_traces(batch.spans).batches:
            store.insert_columns(table.table, table.columns, list(table.names))
        spans += batch.n_spans
    return spans
