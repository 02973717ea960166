"""LLM latency SLIs end to end: the simulator's vLLM-style spans, the real OTLP decoding and
embedded store (migration 9's rollup), then detection and attribution (issue 18, item 3).

A long-output burst doubles output lengths for ten minutes with TTFT and TPOT steady:
no incident. KV-cache pressure makes requests queue: an incident on TTFT of the model,
caused by the service's own load (CONTRACT §4 ``load_surge``, entity the service). A
neighbor on the GPU behind the queue: an incident on TTFT caused by that neighbor.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import timedelta

import pytest

from tailsight.analysis.spikes import SpikeParams
from tailsight.app.analyze import analyze_range
from tailsight.pipeline.signals import SIGNALS
from tailsight.pipeline.spool import Record
from tailsight.pipeline.writer import decode_segment
from tailsight.sim.faults import Fault, from_unix, random_fault, truth
from tailsight.sim.fleet import FleetSpec, build_fleet
from tailsight.sim.scenario import Scenario, Simulation
from tailsight.storage.incidents import list_incidents
from tailsight.storage.queries import service_latency_windows
from tailsight.storage.queries_llm import llm_latency_windows
from tailsight.storage.store import Store
from tests.timebase import recent_noon

SPEC = FleetSpec(
    leaves=1,
    serving_nodes_per_leaf=2,
    training_nodes_per_leaf=0,
    gpus_per_node=(4,),
    services={"llm-gateway": 2},
)
START = recent_noon()
WARMUP_S, FAULT_S, AFTER_S = 1800.0, 600.0, 300.0
MODEL = "llama-3.1-70b-instruct"
SEED = 3


def _fill(store: Store, kind: str) -> Scenario:
    at = START + WARMUP_S
    if kind == "gpu_noisy_neighbor":
        fleet = build_fleet(SPEC, SEED)
        fault = random_fault(kind, fleet, random.Random(1), at, FAULT_S, "f1")
        fault = replace(fault, intensity=1.0, ramp_s=30.0)
    else:
        fault = Fault("f1", kind, at, at + FAULT_S, "llm-gateway", 1.0, 30.0)
    scenario = Scenario(
        SEED, START, WARMUP_S + FAULT_S + AFTER_S, SPEC, (fault,), spans_per_window=60
    )
    sim = Simulation(scenario)
    codes = {s.name: s.code for s in SIGNALS}
    for batch in sim.batches(scenario.end, ticks_per_batch=30):
        records = []
        if batch.spans is not None:
            records.append(Record(codes["traces"], batch.spans.SerializeToString(), batch.n_spans))
        if batch.metrics is not None:
            records.append(Record(codes["metrics"], batch.metrics.SerializeToString()))
        for table in decode_segment(records).batches:
            store.insert_columns(table.table, table.columns, list(table.names))
    return scenario


def test_long_output_burst_doubles_output_lengths_but_raises_no_incident(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tailsight.app.analyze")
    scenario = _fill(store, "long_output_burst")
    fault = scenario.faults[0]
    assert truth(fault, scenario.build_fleet())["distractor"] is True
    onset, until = from_unix(fault.start + 60), from_unix(fault.end - 60)
    before = from_unix(fault.start - 900)
    # The burst is real: output tokens per request doubled, duration p99 rose by half ...
    durations = service_latency_windows(store, before, until, 60)
    llm = llm_latency_windows(store, before, until, 60)
    during_d = durations[durations["window"] >= onset]["p99_ms"].median()
    before_d = durations[durations["window"] < from_unix(fault.start)]["p99_ms"].median()
    assert during_d > 1.4 * before_d
    tokens = llm["output_tokens"] / llm["requests"]
    fast = llm["window"] >= onset
    assert tokens[fast].median() > 1.7 * tokens[~fast & (llm["window"] < onset)].median()
    # ... with TTFT and TPOT steady, so nothing pages.
    for sli in ("ttft", "tpot"):
        col = llm[f"{sli}_p99_ms"]
        assert col[fast].median() < 1.3 * col[llm["window"] < from_unix(fault.start)].median()
    # A detector tuned sensitive enough to flag the duration spike still raises nothing:
    # output length explains it. (The default tuning does not flag this sample's spike.)
    sensitive = SpikeParams(ratio=1.5, k=3.0)
    found = analyze_range(store, from_unix(fault.start - 600), from_unix(scenario.end), sensitive)
    assert found == []
    assert list_incidents(store, from_unix(scenario.start)) == []
    assert "no incident for llm-gateway" in caplog.text
    assert "output tokens per request rose" in caplog.text


def test_kv_cache_pressure_is_an_incident_on_ttft_caused_by_load(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tailsight.app.analyze")
    scenario = _fill(store, "kv_cache_pressure")
    fault = scenario.faults[0]
    expected = truth(fault, scenario.build_fleet())
    found = analyze_range(store, from_unix(fault.start - 600), from_unix(scenario.end))
    on_ttft = [i for i in found if i.sli == "ttft"]
    assert len(on_ttft) == 1, found
    incident = on_ttft[0]
    assert incident.service == "llm-gateway" and incident.model == MODEL
    assert abs(incident.start - from_unix(fault.start)) < timedelta(seconds=90)
    assert incident.p99_ms > 3 * incident.baseline_p99_ms
    top = incident.causes[0]
    assert top.kind == expected["cause_kind"] == "load_surge"
    assert top.entity is not None
    assert {"type": top.entity.type, "id": top.entity.id} == expected["culprit"]
    assert any(e.metric == "gen_ai.latency.time_in_queue" for e in top.evidence)
    # The duration spike of the same requests is not reported a second time.
    assert [i.sli for i in found] == ["ttft"]
    assert f"reported on ttft of {MODEL}" in caplog.text
    stored = list_incidents(store, from_unix(scenario.start))
    assert [(i.id, i.sli, i.model) for i in stored] == [(incident.id, "ttft", MODEL)]
    assert stored[0].to_json()["sli"] == "ttft"


def test_a_neighbor_on_the_gpu_behind_the_queue_is_named_not_the_load(store: Store) -> None:
    """The engine queues behind a GPU a second process shares: the neighbor is the cause."""
    scenario = _fill(store, "gpu_noisy_neighbor")
    fault = scenario.faults[0]
    expected = truth(fault, scenario.build_fleet())
    assert expected["affected_services"] == ["llm-gateway"]
    found = analyze_range(store, from_unix(fault.start - 600), from_unix(scenario.end))
    assert [(i.sli, i.model) for i in found] == [("ttft", MODEL)]
    top = found[0].causes[0]
    assert top.kind == "noisy_neighbor"
    assert top.entity is not None
    assert {"type": top.entity.type, "id": top.entity.id} == expected["culprit"]
    assert all(c.kind != "load_surge" for c in found[0].causes)
