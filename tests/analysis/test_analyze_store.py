"""Detection and attribution end to end through the store's rollups, on hand-shaped telemetry."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tailsight.app.analyze import analyze_range
from tailsight.storage import Store
from tailsight.storage.incidents import list_incidents
from tests.analysis.telemetry import insert_gauges, insert_spans, insert_sums, point, span
from tests.timebase import recent_noon

# Relative to now: the store drops data older than its TTL (tests/timebase.py).
T0 = datetime.fromtimestamp(recent_noon(), UTC) - timedelta(hours=2)
HOSTS = ("n1", "n2", "n3", "n4")
FAULT_AT = T0 + timedelta(minutes=30)


def fleet(store: Store, fault: str, first_s: int = 0, last_s: int = 36 * 60) -> None:
    """Four replicas of ``llm``, one per node and GPU; ``fault`` hits node n2 at FAULT_AT.

    Deterministic per second, so writing it in pieces writes the same data as at once.
    """
    spans, gauges, sums = [], [], []
    for second in range(first_s - first_s % 2, last_s, 2):
        rng = random.Random(second)
        ts = T0 + timedelta(seconds=second)
        faulty = ts >= FAULT_AT
        for i, host in enumerate(HOSTS):
            pid = str(100 + i)
            slow = faulty and host == "n2"
            for _ in range(6):
                ms = rng.lognormvariate(4.6, 0.3) * (4.0 if slow else 1.0)
                spans.append(
                    span("llm", ts + timedelta(milliseconds=rng.randint(0, 1999)), ms, host, pid)
                )
            gpu = f"GPU-{host}"
            util = 0.7
            gauges.append(
                point("tailsight.gpu.process.utilization", ts, util, host=host, hw_id=gpu, pid=pid)
            )
            if host == "n2":
                share = 0.45 if faulty and fault == "gpu" else 0.02
                gauges.append(
                    point(
                        "tailsight.gpu.process.utilization",
                        ts,
                        share,
                        host=host,
                        hw_id=gpu,
                        pid="999",
                    )
                )
            gauges.append(
                point(
                    "tailsight.nic.link",
                    ts,
                    1.0,
                    host=host,
                    interface="eth0",
                    link_switch="leaf1",
                    link_port=f"Ethernet{i}",
                )
            )
        # The switch agent restarted at minute 20: its counter started again from 0.
        ecn = 20.0 * (second if second < 1200 else second - 1200)
        if faulty and fault == "congestion":
            ecn += 5000.0 * (second - 1800)
        sums.append(
            point(
                "tailsight.switch.port.ecn_marked",
                T0 + timedelta(seconds=second),
                ecn,
                "{packet}",
                switch="leaf1",
                interface="Ethernet1",
            )
        )
    insert_spans(store, spans)
    insert_gauges(store, gauges)
    insert_sums(store, sums)


def test_port_congestion_blamed_on_the_port(store: Store) -> None:
    fleet(store, "congestion")
    found = analyze_range(store, T0 + timedelta(minutes=20), T0 + timedelta(minutes=36))
    assert len(found) == 1
    inc = found[0]
    assert abs((inc.start - FAULT_AT).total_seconds()) <= 20
    top = inc.causes[0]
    assert top.kind == "network_congestion" and top.entity is not None
    assert top.entity.id == "leaf1/Ethernet1", inc.to_json()
    assert top.evidence[0].metric == "tailsight.switch.port.ecn_marked"
    assert top.evidence[0].during > 50 * top.evidence[0].baseline


def test_gpu_neighbor_blamed_and_reanalysis_replaces(store: Store) -> None:
    fleet(store, "gpu")
    start, end = T0 + timedelta(minutes=20), T0 + timedelta(minutes=36)
    first = analyze_range(store, start, end)
    again = analyze_range(store, start, end)
    assert [i.to_json() for i in first] == [i.to_json() for i in again]
    stored = list_incidents(store, start, end)
    assert [i.id for i in stored] == [i.id for i in first]
    top = stored[0].causes[0]
    assert (top.kind, top.entity.id if top.entity else None) == ("noisy_neighbor", "n2/999")
