"""Scenarios: YAML round trip, reproducibility, bad input, the corpus and its truth."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tailsight.cli import main
from tailsight.collectors.catalogue import BY_NAME, spec
from tailsight.model import CAUSE_KINDS, ENTITY_TYPES
from tailsight.sim.corpus import corpus_scenario, parse_seeds
from tailsight.sim.faults import INCIDENT_KINDS, KINDS, LLM_KINDS
from tailsight.sim.scenario import ScenarioError, Simulation, load_scenario
from tailsight.sim.telemetry import count_spans


def _bytes(scenario_path: Path, minutes: int = 2) -> bytes:
    scenario = load_scenario(scenario_path)
    sim = Simulation(scenario)
    out = b""
    for batch in sim.batches(scenario.start + minutes * 60):
        out += batch.metrics.SerializeToString() if batch.metrics else b""
        out += batch.spans.SerializeToString() if batch.spans else b""
    return out


def test_yaml_round_trip_and_same_seed_same_bytes(tmp_path: Path) -> None:
    scenario = corpus_scenario(3)
    path = tmp_path / "s.yaml"
    path.write_text(scenario.to_yaml())
    loaded = load_scenario(path)
    assert loaded.faults == scenario.faults
    assert loaded.start == scenario.start and loaded.fleet == scenario.fleet
    assert _bytes(path) == _bytes(path)
    other = tmp_path / "o.yaml"
    other.write_text(replace(scenario, seed=4, faults=()).to_yaml())
    assert _bytes(other) != _bytes(path)
    # The fleet follows the seed: seed 3's GPU faults do not fit seed 4's fleet.
    other.write_text(scenario.to_yaml().replace("seed: 3", "seed: 4"))
    with pytest.raises(ScenarioError, match="unknown GPU"):
        load_scenario(other)


def test_batches_carry_contract_resources_and_sampling(tmp_path: Path) -> None:
    scenario = corpus_scenario(5)
    sim = Simulation(scenario)
    batch = next(sim.batches(scenario.start + 60))
    assert batch.spans is not None and batch.metrics is not None
    assert count_spans([batch.spans]) == batch.n_spans > 0
    rs = batch.spans.resource_spans[0]
    keys = {kv.key for kv in rs.resource.attributes}
    assert {"service.name", "host.name", "process.pid"} <= keys
    span = rs.scope_spans[0].spans[0]
    assert span.kind == 2  # SERVER
    assert span.trace_state.startswith("ot=th:")
    assert {kv.key for kv in span.attributes} >= {
        "gen_ai.request.model",
        "http.response.status_code",
    }
    switch_resources = [
        rm
        for rm in batch.metrics.resource_metrics
        if rm.resource.attributes[0].key == "tailsight.switch.name"
    ]
    assert switch_resources


def test_bad_scenarios_get_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\nfaults:\n  - {kind: meteor, start: 10m, end: 20m, target: x}\n")
    with pytest.raises(ScenarioError, match="unknown kind 'meteor'"):
        load_scenario(path)
    path.write_text(
        "seed: 1\nfaults:\n  - {kind: port_congestion, start: 10m, end: 20m, target: leaf9/Ethernet0}\n"
    )
    with pytest.raises(ScenarioError, match="leaf9/Ethernet0"):
        load_scenario(path)
    path.write_text("fleet: {racks: 3}\n")
    with pytest.raises(ScenarioError, match="racks"):
        load_scenario(path)
    path.write_text("[not, a, mapping]\n")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(path)


def test_parse_seeds() -> None:
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
    with pytest.raises(ValueError):
        parse_seeds("5-1")


def test_corpus_cli_writes_every_kind_with_valid_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "corpus"
    assert main(["sim", "corpus", "--seeds", "1-50", "--out", str(out)]) == 0
    index = json.loads((out / "index.json").read_text())
    assert len(index) == 50
    kinds = {k for e in index for k in e["kinds"]}
    assert kinds == set(KINDS) - set(LLM_KINDS)  # the LLM kinds are kept out of the corpus
    for entry in index:
        truth = json.loads((out / entry["truth"]).read_text())
        scenario = load_scenario(out / entry["scenario"])
        assert [f["id"] for f in truth["faults"]] == [f.id for f in scenario.faults]
        assert any(f["kind"] in INCIDENT_KINDS for f in truth["faults"])
        for f in truth["faults"]:
            assert f["cause_kind"] in (*CAUSE_KINDS, None)
            if f["distractor"]:
                assert f["culprit"] is None and f["affected_services"] == []
                continue
            assert f["culprit"]["type"] in ENTITY_TYPES and f["affected_services"]
            assert (
                scenario.start + 1800
                <= scenario.faults[[x.id for x in scenario.faults].index(f["id"])].start
            )
    assert main(["sim", "corpus", "--seeds", "x", "--out", str(out)]) == 2
    assert "sim" in capsys.readouterr().err


def test_emits_every_catalogue_metric_as_catalogued() -> None:
    scenario = corpus_scenario(6)
    sim = Simulation(scenario)
    batch = next(sim.batches(scenario.start + 20, ticks_per_batch=2))
    assert batch.metrics is not None
    seen: set[str] = set()
    for rm in batch.metrics.resource_metrics:
        resource = {kv.key for kv in rm.resource.attributes}
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                entry = spec(m.name)
                seen.add(m.name)
                kind = m.WhichOneof("data")
                assert kind == entry.kind and m.unit == entry.unit, m.name
                if kind == "sum":
                    assert m.sum.is_monotonic and m.sum.aggregation_temporality == 2
                if m.name.startswith("tailsight.switch."):
                    assert resource == {"tailsight.switch.name"}
                else:
                    assert resource == {"host.name"}
                for dp in getattr(m, kind).data_points:
                    keys = {kv.key for kv in dp.attributes}
                    assert set(entry.attributes) <= keys, (m.name, keys)
                    assert keys <= set(entry.attributes) | set(entry.optional_attributes)
    assert seen == set(BY_NAME)


def test_gateway_traces_nest_embedder_and_reranker_calls() -> None:
    from opentelemetry.proto.trace.v1 import trace_pb2

    scenario = corpus_scenario(8)
    sim = Simulation(scenario)
    spans = {}
    for batch in sim.batches(scenario.start + 120):
        assert batch.spans is not None
        for rs in batch.spans.resource_spans:
            service = next(
                kv.value.string_value for kv in rs.resource.attributes if kv.key == "service.name"
            )
            for span in rs.scope_spans[0].spans:
                spans[span.span_id] = (service, span)
    children = [(s, sp) for s, sp in spans.values() if sp.parent_span_id]
    # A call is the gateway's CLIENT span, parent of the callee's SERVER span.
    assert children and {s for s, _ in children} == {"llm-gateway", "embedder", "reranker"}
    callees = [(s, sp) for s, sp in children if s != "llm-gateway"]
    assert callees
    for service, child in callees:
        assert child.kind == trace_pb2.Span.SPAN_KIND_SERVER
        client_service, client = spans[child.parent_span_id]
        assert client_service == "llm-gateway" and client.kind == trace_pb2.Span.SPAN_KIND_CLIENT
        assert {kv.key: kv.value.string_value for kv in client.attributes}["server.address"] == (
            service
        )
        parent_service, parent = spans[client.parent_span_id]
        assert parent_service == "llm-gateway" and parent.kind == trace_pb2.Span.SPAN_KIND_SERVER
        for outer, inner in ((parent, client), (client, child)):
            assert outer.trace_id == inner.trace_id
            assert outer.start_time_unix_nano <= inner.start_time_unix_nano
            assert inner.end_time_unix_nano <= outer.end_time_unix_nano
        assert child.trace_state == parent.trace_state  # kept with its parent
