"""A `tailsight up` filled by the simulator for the dashboard tests (and screenshots).

The scenario of ``tests/analysis/test_e2e_sim.py``: a small fleet, one fault of every
incident kind one after another, backfilled over OTLP/HTTP and analysed through the
API, so the pages show real incidents with known culprits.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tailsight.app.launch import UpServer
from tailsight.sim.faults import truth
from tailsight.sim.scenario import Simulation
from tailsight.sim.sender import OtlpHttpSender, backfill
from tests.simfill import every_kind_scenario, wait_drained


def fill_up(up: UpServer) -> dict[str, Any]:
    """Backfill the scenario into ``up``, analyse it; the range, truths and incidents found."""
    scen = every_kind_scenario("dashboards")
    sim = Simulation(scen)
    sender = OtlpHttpSender(f"http://127.0.0.1:{up.otlp_http_port}")
    try:
        backfill(sim, sender, scen.end, ticks_per_batch=30)
    finally:
        sender.close()
    wait_drained(up.api)
    body = json.dumps({"from": scen.start, "to": scen.end}).encode()
    req = urllib.request.Request(
        up.api + "/api/v1/analyze", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=180) as resp:
        found = json.loads(resp.read())["incidents"]
    return {
        "start": scen.start,
        "end": scen.end,
        "faults": {f.kind: {**truth(f, sim.fleet), "pid": f.pid} for f in scen.faults},
        "incidents": found,
    }
