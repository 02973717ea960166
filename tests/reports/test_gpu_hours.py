"""GPU time by state from the hourly table of migration 12 equals a window-by-window count.

Rollup rows go into ``tailsight_metrics_10s`` as ingest writes them, some windows in two
inserts (the agent exports every second, so a window's points arrive in parts): each
window must count once, in the state of its merged mean, whatever the parts say alone.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from tailsight.storage.report_queries import BUSY_AT, IDLE_BELOW, gpu_time_by_state
from tailsight.storage.store import Store
from tests.timebase import recent_noon


def _insert(store: Store, rows: list[tuple[str, str, int, float, int]]) -> None:
    # One INSERT ... SELECT over a literal array, not a VALUES row per window: ClickHouse
    # evaluates the VALUES rows' function calls one row at a time (~100 s for 4,320 rows on a
    # busy machine), the SELECT's once per block; the rows written are the same.
    values = ", ".join(f"('{h}', '{g}', {w}, {t}, {n})" for h, g, w, t, n in rows)
    store.command(
        "INSERT INTO tailsight_metrics_10s (MetricName, Kind, Unit, Host, Switch, Attributes, "
        "Temporality, Window, First, Last, FirstTime, LastTime, Total, Points, Peak) "
        "SELECT 'hw.gpu.utilization', 'gauge', '1', r.1, '', map('hw.id', r.2, 'hw.type', 'gpu'), "
        "0, toDateTime(r.3, 'UTC'), initializeAggregation('argMinState', 0., toDateTime64(r.3, 9)), "
        "initializeAggregation('argMaxState', 0., toDateTime64(r.3, 9)), toDateTime64(r.3, 9), "
        f"toDateTime64(r.3, 9), r.4, r.5, r.4 FROM (SELECT arrayJoin([{values}]) AS r)"
    )


def _state(mean: float) -> str:
    return "busy" if mean >= BUSY_AT else "idle" if mean < IDLE_BELOW else "under"


def test_each_window_counts_once_in_its_merged_state(store: Store) -> None:
    rng = random.Random(3)
    start = int(recent_noon(3))
    first, second = [], []
    merged: dict[tuple[str, str, int], list[float]] = defaultdict(lambda: [0.0, 0])
    for gpu in range(4):
        host, hw = f"node-{gpu // 2}", f"GPU-{gpu}"
        for k in range(3 * 360):  # three hours of 10 s windows
            w = start + 10 * k
            parts = [(rng.choice([0.0, 0.02, 0.3, 0.9]) * 5, 5)]
            if k % 7 == 0:  # this window's points arrive in two inserts
                parts.append((rng.choice([0.0, 0.9]) * 5, 5))
            for i, (t, n) in enumerate(parts):
                (first if i == 0 else second).append((host, hw, w, t, n))
                merged[(host, hw, w)][0] += t
                merged[(host, hw, w)][1] += n
    _insert(store, first)
    _insert(store, second)

    def expect(a: int, b: int) -> dict[tuple[str, str], dict[str, float]]:
        out: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for (host, hw, w), (t, n) in merged.items():
            if a <= w < b:
                out[(host, hw)][_state(t / n)] += 10
        return out

    # A range starting and ending inside hours (a time zone on the half hour).
    for a, b in ((start, start + 3 * 3600), (start + 1800, start + 2 * 3600 + 1800)):
        found = gpu_time_by_state(
            store, datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)
        )
        want = expect(a, b)
        assert len(found) == 4
        for g in found:
            w = want[(g["host"], g["hw_id"])]
            assert (g["busy_s"], g["under_s"], g["idle_s"]) == (w["busy"], w["under"], w["idle"])
        assert sum(g["busy_s"] + g["under_s"] + g["idle_s"] for g in found) == (b - a) * 4

    # A week that began before the table's first hour (ingested before migration 12) is
    # read from the rollup: the same figures once the rollup's parts are merged.
    span = (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(start + 3 * 3600, UTC))
    before = gpu_time_by_state(store, *span)
    store.command("OPTIMIZE TABLE tailsight_metrics_10s FINAL")
    store.command("TRUNCATE TABLE tailsight_report_gpu_1h")
    after = gpu_time_by_state(store, *span)
    keys = ("host", "hw_id", "busy_s", "under_s", "idle_s")
    assert [[g[k] for k in keys] for g in after] == [[g[k] for k in keys] for g in before]
    assert [g["mean_util"] for g in after] == pytest.approx([g["mean_util"] for g in before])
