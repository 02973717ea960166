"""The end-to-end scenario tests fill a `tailsight up` with: one fault of every incident kind.

A small fleet (``tests.sim.simdata.SPEC``), ten minutes of warm-up, then each fault kind
for four minutes with three clean minutes between, at noon UTC two days back (inside the
store's TTL, the same time of day every run). ``tests/analysis/test_e2e_sim.py`` checks
the incidents found; the dashboard tests show them.
"""

from __future__ import annotations

import random
import time
import urllib.request
from dataclasses import replace

from tailsight.sim.faults import INCIDENT_KINDS, random_fault
from tailsight.sim.fleet import build_fleet
from tailsight.sim.scenario import Scenario
from tests.sim.simdata import SPEC
from tests.timebase import recent_noon

SEED = 5
WARMUP_S, FAULT_S, GAP_S = 600.0, 240.0, 180.0


def every_kind_scenario(name: str = "e2e") -> Scenario:
    """One fault of each incident kind, one after another, at full intensity."""
    start = recent_noon()
    fleet = build_fleet(SPEC, SEED)
    rng = random.Random(SEED)
    faults = []
    t = start + WARMUP_S
    for i, kind in enumerate(INCIDENT_KINDS):
        fault = random_fault(kind, fleet, rng, t, FAULT_S, f"f{i + 1}")
        faults.append(replace(fault, intensity=1.0, ramp_s=10.0))
        t += FAULT_S + GAP_S
    return Scenario(SEED, start, t - start, SPEC, tuple(faults), name=name)


def wait_drained(api: str, timeout_s: float = 60.0) -> None:
    """Wait until the writer has moved everything spooled into the store."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(api + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        held = [ln for ln in text.splitlines() if ln.startswith("tailsight_ingest_spool_bytes")]
        if held and float(held[0].split()[-1]) == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the ingest spool did not drain")
