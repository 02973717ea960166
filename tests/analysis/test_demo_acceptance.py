"""`make demo` acceptance: every injected fault found with its culprit, no incident matching none.

The demo's own scenario (``sim.demo.demo_scenario``, seed 2026) with its two resolutions:
coarse history (3 spans per window, metrics every 5 minutes) and 2 h at full detail with
one fault of every kind and the distractors. The history is 6 h rather than the demo's
24 h to keep the test short (a few minutes on a busy machine): the fine part's faults are
the demo's own, the three history faults the same kinds on the same targets at other
times. Decoded by the real OTLP decoders,
inserted into a fresh store, analysed by ``analyze_range`` as ``POST /api/v1/analyze`` is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tailsight.app.analyze import analyze_range
from tailsight.sim.demo import COARSE, FINE, demo_scenario
from tailsight.sim.direct import store_simulation
from tailsight.sim.scenario import Simulation
from tailsight.storage import Store
from tests.timebase import recent_noon

pytestmark = pytest.mark.integration

HISTORY_S, FINE_S = 6 * 3600.0, 7200.0


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _matches(fault: dict[str, Any], inc: dict[str, Any]) -> bool:
    services = set(fault["affected_services"]) | set(fault["upstream_services"])
    onset = _ts(inc["start"])
    return (
        inc["service"] in services and _ts(fault["start"]) - 30 <= onset <= _ts(fault["end"]) + 60
    )


@pytest.mark.timeout(900)
def test_every_demo_fault_found_with_its_culprit_and_nothing_else(store: Store) -> None:
    now = recent_noon() + 6 * 3600  # 18:00 UTC: the fine part spans the diurnal peak's descent
    scenario = demo_scenario(now, HISTORY_S, FINE_S, seed=2026)
    sim = Simulation(scenario)
    fine_start = now - FINE_S
    sim.set_sampling(COARSE.spans_per_window)
    store_simulation(store, sim, fine_start, 36, COARSE.metric_every)
    sim.set_sampling(FINE.spans_per_window)
    store_simulation(store, sim, now, 12, FINE.metric_every)
    truth = scenario.truth(sim.fleet)
    found = [
        i.to_json()
        for i in analyze_range(
            store, datetime.fromtimestamp(scenario.start, UTC), datetime.fromtimestamp(now, UTC)
        )
    ]
    real = [f for f in truth["faults"] if not f["distractor"]]
    assert len(real) == 8  # five in the fine part (one per kind), three in the history
    for fault in real:
        good = [fault["culprit"], *fault["accepted"]]
        near = [i for i in found if _matches(fault, i)]
        tops = [(i["causes"][0]["kind"], i["causes"][0]["entity"]) for i in near]
        assert any(k == fault["cause_kind"] and e in good for k, e in tops), (
            f"{fault['id']} {fault['kind']} at {fault['start']}: want {fault['cause_kind']} "
            f"{fault['culprit']}, got {tops}"
        )
    stray = [i for i in found if not any(_matches(f, i) for f in real)]
    assert stray == [], [(i["service"], i["start"], i["causes"][0]["kind"]) for i in stray]
    assert all(i["end"] is not None for i in found)
