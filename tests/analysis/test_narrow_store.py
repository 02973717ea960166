"""One slow replica of 60, end to end through the store's rollup (``latency_grid_windows``)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tailsight.app.analyze import analyze_range
from tailsight.storage import Store
from tailsight.storage.incidents import list_incidents
from tests.analysis.telemetry import insert_spans, span
from tests.timebase import recent_noon

T0 = datetime.fromtimestamp(recent_noon(), UTC) - timedelta(hours=2)
FAULT_AT = T0 + timedelta(minutes=60)
SLOW = ("n07", "1007")


def test_one_slow_replica_of_sixty_is_an_incident_naming_it(store: Store) -> None:
    rng = random.Random(4)
    spans = []
    for i in range(60):
        host, pid = f"n{i:02d}", str(1000 + i)
        t = T0 + timedelta(seconds=rng.uniform(0, 20))
        while t < T0 + timedelta(minutes=80):
            slow = (host, pid) == SLOW and t >= FAULT_AT
            ms = rng.lognormvariate(3.7, 0.4) * (3.0 if slow else 1.0)
            spans.append(span("emb", t, ms, host, pid))
            t += timedelta(seconds=rng.expovariate(1 / 20))  # one request per 20 s
    insert_spans(store, spans)
    # The whole service's p99 barely moves: under 2 % of its requests are slow.
    found = analyze_range(store, T0 + timedelta(minutes=50), T0 + timedelta(minutes=80))
    assert len(found) == 1, [i.to_json() for i in found]
    inc = found[0]
    assert inc.service == "emb" and inc.scope == "replica" and inc.replica == "n07/1007"
    assert abs((inc.start - FAULT_AT).total_seconds()) <= 120
    (stored,) = list_incidents(store, T0 + timedelta(minutes=50))
    assert stored.to_json()["replica"] == "n07/1007"
