"""End to end: the simulator's telemetry over OTLP/HTTP into `tailsight up`, then incidents.

One scenario with one fault of each incident kind, one after another, backfilled through
the real receiver; ``POST /api/v1/analyze`` over the range must give, for each fault, an
incident whose first cause has the truth's kind and culprit.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from dataclasses import replace
from typing import Any

import pytest

from tailsight.sim.faults import INCIDENT_KINDS, random_fault, truth
from tailsight.sim.fleet import build_fleet
from tailsight.sim.scenario import Scenario, Simulation
from tailsight.sim.sender import OtlpHttpSender, backfill
from tests.conftest import UpProcess
from tests.sim.simdata import SPEC  # a small fleet: 2 leaves, 4 serving nodes, 8 replicas
from tests.timebase import recent_noon

SEED = 5
START = recent_noon()  # inside the store's TTL, same time of day every run
WARMUP_S, FAULT_S, GAP_S = 600.0, 240.0, 180.0


def _scenario() -> Scenario:
    fleet = build_fleet(SPEC, SEED)
    rng = random.Random(SEED)
    faults = []
    t = START + WARMUP_S
    for i, kind in enumerate(INCIDENT_KINDS):
        fault = random_fault(kind, fleet, rng, t, FAULT_S, f"f{i + 1}")
        faults.append(replace(fault, intensity=1.0, ramp_s=10.0))
        t += FAULT_S + GAP_S
    return Scenario(SEED, START, t - START, SPEC, tuple(faults), name="e2e")


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


@pytest.mark.integration
def test_each_fault_kind_gets_its_cause_through_up(up: UpProcess) -> None:
    scenario = _scenario()
    sim = Simulation(scenario)
    sender = OtlpHttpSender(f"http://127.0.0.1:{up.otlp_http_port}")
    try:
        backfill(sim, sender, scenario.end, ticks_per_batch=30)
    finally:
        sender.close()
    _wait_drained(up)
    result = _post(up.api + "/api/v1/analyze", {"from": scenario.start, "to": scenario.end})
    incidents = result["incidents"]
    fleet = sim.fleet
    for fault in scenario.faults:
        want = truth(fault, fleet)
        good = [want["culprit"], *want["accepted"]]
        services = set(want["affected_services"]) | set(want["upstream_services"])
        near = [
            i
            for i in incidents
            if i["service"] in services and fault.start - 30 <= _unix(i["start"]) <= fault.end + 60
        ]
        assert near, f"{fault.kind}: no incident of {sorted(services)}: {incidents}"
        tops = [(i["causes"][0]["kind"], i["causes"][0]["entity"]) for i in near]
        assert any(k == want["cause_kind"] and e in good for k, e in tops), (
            f"{fault.kind}: want {want['cause_kind']} {good}, got {tops}"
        )


def _wait_drained(up: UpProcess, timeout_s: float = 60.0) -> None:
    """Wait until the writer has moved everything spooled into the store."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(up.api + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        held = [
            line for line in text.splitlines() if line.startswith("tailsight_ingest_spool_bytes")
        ]
        if held and float(held[0].split()[-1]) == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the ingest spool did not drain")


def _unix(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
