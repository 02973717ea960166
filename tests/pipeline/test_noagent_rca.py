"""Root causes without tailsight's agent: dcgm-exporter, node_exporter and vLLM/Triton only.

A 75-minute scenario with a GPU neighbor, an underutilized GPU and a congested NIC, one
after the other, is published as the exporters would publish it and POSTed as Prometheus
remote write to the real receiver (spans over OTLP/HTTP), into a fresh embedded store;
the analysis must then name each culprit from that data alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tailsight.app.analyze import analyze_range
from tailsight.model import Incident
from tailsight.sim.faults import Fault
from tailsight.sim.fleet import FleetSpec, build_fleet
from tailsight.sim.prometheus import PromSimulation, RemoteWriteSender, send_prometheus
from tailsight.sim.scenario import Scenario
from tailsight.sim.sender import OtlpHttpSender
from tests.pipeline.conftest import Pipeline
from tests.timebase import recent_noon

pytestmark = pytest.mark.integration

SPEC = FleetSpec(
    leaves=1,
    spines=1,
    serving_nodes_per_leaf=3,
    training_nodes_per_leaf=0,
    gpus_per_node=(4,),
    services={"llm-gateway": 3, "embedder": 3, "reranker": 3},
    batch_jobs=0,
)
SEED = 5
START = recent_noon() - 2 * 3600


def _scenario() -> Scenario:
    fleet = build_fleet(SPEC, SEED)
    by = {(r.service, r.host): r for r in fleet.replicas}
    victim = by[("llm-gateway", "gpu-node-01")]
    starved = by[("embedder", "gpu-node-02")]

    def at(minute: int, kind: str, target: str, **extra: Any) -> Fault:
        start = START + minute * 60
        return Fault(f"{kind}", kind, start, start + 480, target, 1.0, 30.0, **extra)

    faults = (
        at(20, "gpu_noisy_neighbor", victim.gpu, pid=777001, executable="trainer"),
        at(40, "gpu_underutilized", starved.gpu),
        at(60, "nic_congestion", "gpu-node-03/eth0"),
    )
    return Scenario(SEED, START, 75 * 60, SPEC, faults, spans_per_window=20.0, name="no-agent")


def _send(scenario: Scenario, pipeline: Pipeline) -> int:
    sim = PromSimulation(scenario)
    otlp = OtlpHttpSender(pipeline.http)
    remote = RemoteWriteSender(pipeline.api + "/api/v1/write")
    try:
        samples = send_prometheus(sim, otlp, remote, scenario.end)
    finally:
        otlp.close()
        remote.close()
    pipeline.idle(timeout=60)
    return samples


def _top(incidents: list[Incident], fault: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, entity type, entity id) of the top cause of each incident of ``fault``."""
    start = datetime.fromisoformat(fault["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(fault["end"].replace("Z", "+00:00"))
    out = []
    for inc in incidents:
        if inc.service not in fault["affected_services"] or not inc.causes:
            continue
        if not (start.timestamp() - 30 <= inc.start.timestamp() <= end.timestamp() + 60):
            continue
        cause = inc.causes[0].to_json()
        entity = cause.get("entity") or {}
        out.append((cause["kind"], entity.get("type", ""), entity.get("id", "")))
    return out


def test_exporters_alone_name_each_culprit(pipeline: Pipeline) -> None:
    scenario = _scenario()
    samples = _send(scenario, pipeline)
    assert samples > 100_000
    store = pipeline.store
    # Only the exporters' series and their mapping: no agent metric was sent.
    names = {r[0] for r in store.rows("SELECT DISTINCT MetricName FROM otel_metrics_gauge")}
    assert {"DCGM_FI_DEV_GPU_UTIL", "hw.gpu.utilization"} <= names
    assert "tailsight.gpu.process.utilization" not in names
    pods = store.rows(
        "SELECT DISTINCT Attributes['k8s.pod.name'] FROM otel_metrics_gauge "
        "WHERE MetricName = 'hw.gpu.utilization'"
    )
    assert ("trainer-bdb29",) in {tuple(r) for r in pods}  # the neighbor, by its pod

    found = analyze_range(
        store,
        datetime.fromtimestamp(scenario.start, UTC),
        datetime.fromtimestamp(scenario.end, UTC),
    )
    truth = scenario.truth()
    for fault in truth["faults"]:
        good = {(fault["culprit"]["type"], fault["culprit"]["id"])} | {
            (a["type"], a["id"]) for a in fault["accepted"]
        }
        tops = _top(found, fault)
        assert tops, f"{fault['kind']}: no incident with a cause in {fault['affected_services']}"
        right = [t for t in tops if t[0] == fault["cause_kind"] and (t[1], t[2]) in good]
        assert right, f"{fault['kind']}: top causes {tops}, want {fault['cause_kind']} {good}"
