"""Ingest for ``bench/rca_eval.py --mode no-agent``: a fleet without tailsight's agent.

The scenario runs as :class:`~tailsight.sim.prometheus.PromSimulation`: its GPUs, hosts,
NICs and inference servers are published as dcgm-exporter, node_exporter and vLLM/Triton
series and POSTed as Prometheus remote write to ``/api/v1/write`` of a real ingest
pipeline (the receivers, spool and writer of ``tailsight up``, in this process, on
loopback ports: ``tests/pipeline/conftest.run_pipeline``); the services' spans go to its
OTLP/HTTP port. Nothing is written into tables directly: what the analysis reads is what
the receivers stored.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from tailsight.sim.prometheus import PromSimulation, RemoteWriteSender, send_prometheus
from tailsight.sim.scenario import Scenario
from tailsight.sim.sender import OtlpHttpSender
from tailsight.storage.store import Store
from tests.pipeline.conftest import run_pipeline

ingest_pipeline = contextmanager(run_pipeline)


def ingest_no_agent(
    scenario: Scenario, store: Store, data_dir: Path, ticks_per_batch: int = 30
) -> int:
    """Send ``scenario`` through the receivers into ``store``; the samples sent."""
    sim = PromSimulation(scenario)
    with ingest_pipeline(store, data_dir) as pipeline:
        otlp = OtlpHttpSender(pipeline.http)
        remote = RemoteWriteSender(pipeline.api + "/api/v1/write")
        try:
            send_prometheus(sim, otlp, remote, scenario.end, ticks_per_batch)
        finally:
            otlp.close()
            remote.close()
        pipeline.idle(timeout=300)
    return sim.prom.samples
