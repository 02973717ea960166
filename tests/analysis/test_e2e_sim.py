"""End to end: the simulator's telemetry over OTLP/HTTP into `tailsight up`, then incidents.

One scenario with one fault of each incident kind, one after another, backfilled through
the real receiver; ``POST /api/v1/analyze`` over the range must give, for each fault, an
incident whose first cause has the truth's kind and culprit.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tailsight.sim.faults import truth
from tailsight.sim.scenario import Simulation
from tailsight.sim.sender import OtlpHttpSender, backfill
from tests.conftest import UpProcess
from tests.simfill import every_kind_scenario, wait_drained


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


@pytest.mark.integration
def test_each_fault_kind_gets_its_cause_through_up(up: UpProcess) -> None:
    scenario = every_kind_scenario()
    sim = Simulation(scenario)
    sender = OtlpHttpSender(f"http://127.0.0.1:{up.otlp_http_port}")
    try:
        backfill(sim, sender, scenario.end, ticks_per_batch=30)
    finally:
        sender.close()
    wait_drained(up.api)
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


def _unix(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
