"""Simulated telemetry stored in-process: the simulator's OTLP requests decoded as ingest
decodes them and inserted straight into a store.

For the benches and tests that measure analysis rather than ingest (no HTTP, no spool; the
receiver path has its own end-to-end tests), several times faster than a `tailsight up`.
"""

from __future__ import annotations

from tailsight.pipeline.decode_metrics import decode_metrics
from tailsight.pipeline.decode_traces import decode_traces
from tailsight.sim.scenario import Batch, Simulation
from tailsight.storage import Store


def store_batch(store: Store, batch: Batch) -> None:
    """Insert one batch's spans and metric points."""
    if batch.spans is not None:
        for table in decode_traces(batch.spans).batches:
            store.insert_columns(table.table, table.columns, list(table.names))
    if batch.metrics is not None:
        for table in decode_metrics(batch.metrics).batches:
            store.insert_columns(table.table, table.columns, list(table.names))


def store_simulation(
    store: Store, sim: Simulation, until: float, ticks_per_batch: int = 30, metric_every: int = 1
) -> int:
    """Run ``sim`` up to ``until`` (unix seconds), storing what it sends; the number of spans."""
    spans = 0
    for batch in sim.batches(until, ticks_per_batch, metric_every):
        store_batch(store, batch)
        spans += batch.n_spans
    return spans
