"""The dashboards' coarse rollup tiers (migration 11) against a real store: hand-built points, known answers.

Points go into the exporter's raw tables, so the views fill the 10 s rollup and cascade
into the 1-minute and 5-minute tiers as they do in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tailsight.analysis.series import bucket_values
from tailsight.storage import Store
from tailsight.storage.dashboard_metrics import gpu_state_buckets, gpu_util_grid, metric_buckets
from tailsight.storage.dashboard_queries import replica_series, service_series, service_totals
from tailsight.storage.rollup_tiers import TIERS, tier_for
from tests.analysis.telemetry import insert_gauges, insert_spans, insert_sums, point, span
from tests.timebase import recent_noon

T0 = datetime.fromtimestamp(recent_noon(), UTC)  # noon: aligned to every tier
COUNTER = "tailsight.switch.port.io"


def _sum_points(store: Store, points: list[tuple[float, float]]) -> None:
    """Cumulative points ``(seconds after T0, value)`` of one switch-port counter."""
    insert_sums(
        store,
        [
            point(
                COUNTER,
                T0 + timedelta(seconds=s),
                v,
                "By",
                switch="leaf1",
                interface="Ethernet1",
                direction="transmit",
            )
            for s, v in points
        ],
    )


def _counter_points() -> list[tuple[float, float]]:
    # Every 10 s over the first 5 minutes: climbs 100 -> 290, is reset at 200 s, counts to 50.
    out = [(10.0 * i, 100.0 + 10 * i) for i in range(20)]
    out += [(10.0 * i, 5.0 * (i - 19)) for i in range(20, 30)]
    return out + [(300.0, 60.0), (590.0, 200.0)]  # the next bucket: two points


def test_tier_choice() -> None:
    assert [t.seconds for t in TIERS] == [3600, 600, 300, 60, 10]
    assert tier_for(3600, 7 * 86400).metrics == "tailsight_metrics_1h"
    assert tier_for(None, 7 * 86400).latency == "tailsight_latency_1h"
    assert tier_for(600, 86400).metrics == "tailsight_metrics_10m"
    assert tier_for(300, 72000).metrics == "tailsight_metrics_5m"
    assert tier_for(None, 86400).metrics == "tailsight_metrics_10m"
    assert tier_for(120, 21600).metrics == "tailsight_metrics_1m"
    assert tier_for(30, 3600).metrics == "tailsight_metrics_10s"
    assert tier_for(None, 30000).latency == "tailsight_latency_5m"
    assert tier_for(None, 3600).latency == "tailsight_latency_1m"
    assert tier_for(None, 600).latency == "tailsight_latency_10s"


def test_counter_buckets_with_a_reset_and_late_data(store: Store) -> None:
    points = _counter_points()
    _sum_points(store, points[15:])  # the later half first: the earlier arrives late
    _sum_points(store, points[:15])
    end = T0 + timedelta(hours=1)
    coarse = metric_buckets(store, [COUNTER], T0, end, 300, switches_only=True)
    fine = metric_buckets(store, [COUNTER], T0, end, 10, switches_only=True)
    assert len(coarse) == 2 and len(fine) == 32
    first = coarse.iloc[0]
    assert (first["first"], first["last"], first["peak"], first["points"]) == (
        100.0,
        50.0,
        290.0,
        30,
    )
    assert first["first_time"] == T0 and first["last_time"] == T0 + timedelta(seconds=290)
    assert (first["interface"], first["direction"], first["switch"]) == (
        "Ethernet1",
        "transmit",
        "leaf1",
    )
    second = coarse.iloc[1]
    assert (second["first"], second["last"], second["points"]) == (60.0, 200.0, 2)
    values = bucket_values(coarse, 300)["value"].to_list()
    # 100 -> 290 is 190, then 50 counted since the reset: 240 over the 290 s between the points.
    assert values[0] == pytest.approx(240 / 290)
    assert values[1] == pytest.approx(140 / 290)
    # The 10 s tier holds the same points: its aggregates over the bucket agree.
    head = fine[fine["t"] < T0 + timedelta(seconds=300)]
    assert head["points"].sum() == 30 and head["peak"].max() == 290.0


def test_one_minute_tier_and_whole_range(store: Store) -> None:
    _sum_points(store, _counter_points())
    end = T0 + timedelta(hours=1)
    minute = metric_buckets(store, [COUNTER], T0, end, 120)
    assert minute["points"].to_list() == [12, 12, 7, 1]
    assert minute["first"].to_list() == [100.0, 220.0, 25.0, 200.0]
    whole = metric_buckets(store, [COUNTER], T0, end, None)
    assert len(whole) == 1 and whole.iloc[0]["points"] == 32
    assert (whole.iloc[0]["first"], whole.iloc[0]["last"]) == (100.0, 200.0)


def test_gpu_state_counts_from_the_coarse_tier(store: Store) -> None:
    rows = [
        point("hw.gpu.utilization", T0 + timedelta(seconds=s), u, host="node-1", hw_id=gpu)
        for gpu, u in (("GPU-a", 0.9), ("GPU-b", 0.05), ("GPU-c", 0.5))
        for s in range(0, 600, 10)
    ]
    insert_gauges(store, rows)
    end = T0 + timedelta(hours=24)
    # Two 5-minute buckets per GPU; the 10 s tier at 30 s buckets gives the same shares.
    assert gpu_state_buckets(store, T0, end, 300, 0.8, 0.1) == (2, 2, 6)
    assert gpu_state_buckets(store, T0, T0 + timedelta(minutes=10), 30, 0.8, 0.1) == (20, 20, 60)
    # The heat map: a row per GPU, or past ``max_rows`` GPUs one per node (the mean of its GPUs).
    cells = gpu_util_grid(store, T0, end, 600, 128)
    assert cells["row"].tolist() == ["node-1 GPU-a", "node-1 GPU-b", "node-1 GPU-c"]
    assert cells["value"].tolist() == pytest.approx([0.9, 0.05, 0.5])
    nodes = gpu_util_grid(store, T0, end, 300, 2)
    assert nodes["row"].tolist() == ["node-1", "node-1"]
    assert nodes["value"].tolist() == pytest.approx([1.45 / 3, 1.45 / 3])


def test_latency_tiers(store: Store) -> None:
    spans = [
        span("api", T0 + timedelta(seconds=s), 4 if s < 300 else 40, host="node-1", pid="42")
        for s in range(0, 600, 5)
    ]
    # One failure a minute.
    insert_spans(store, [(*x[:-1], "Error" if i % 12 == 0 else "Ok") for i, x in enumerate(spans)])
    end = T0 + timedelta(hours=24)
    series = service_series(store, T0, end, 300)
    assert series["requests"].to_list() == [60, 60] and series["failures"].to_list() == [5, 5]
    assert series["p50_ms"].to_list() == pytest.approx([4.0, 40.0])
    totals = service_totals(store, T0, end)
    assert totals.iloc[0]["requests"] == 120 and totals.iloc[0]["failures"] == 10
    replicas = replica_series(store, "api", T0, end, 600)
    assert replicas[["host", "pid", "requests"]].values.tolist() == [["node-1", "42", 120]]
    assert replicas.iloc[0]["p99_ms"] == pytest.approx(40.0)


def test_a_store_that_upgrades_keeps_its_history_in_the_tiers(tmp_path: Path) -> None:
    from tailsight.storage import open_store
    from tailsight.storage.ddl import Target
    from tailsight.storage.migrations import MIGRATIONS, applied_versions, migrate

    store = open_store(f"chdb://{tmp_path / 'store'}")
    try:
        # A store of the schema before migration 11 (as an older release left it), with data.
        migrate(store, ttl_days=30)
        for table in ("metrics", "latency"):
            for tier in ("1m", "5m"):
                store.command(f"DROP VIEW IF EXISTS tailsight_{table}_{tier}_mv")
                store.command(f"DROP TABLE tailsight_{table}_{tier}")
        store.command("DELETE FROM tailsight_schema_migrations WHERE Version = 11")
        assert 11 not in applied_versions(store)
        _sum_points(store, _counter_points())
        insert_spans(store, [span("api", T0 + timedelta(seconds=s), 4) for s in range(0, 600, 5)])

        assert migrate(store, ttl_days=30).applied == (11,)
        end = T0 + timedelta(hours=24)
        whole = metric_buckets(store, [COUNTER], T0, end, None)
        assert whole.iloc[0]["points"] == 32 and whole.iloc[0]["last"] == 200.0
        assert service_series(store, T0, end, 300)["requests"].to_list() == [60, 60]
        # Run again: nothing more is copied.
        for sql in next(m for m in MIGRATIONS if m.version == 11).render(Target(store.database)):
            store.command(sql)
        assert metric_buckets(store, [COUNTER], T0, end, None).iloc[0]["points"] == 32
    finally:
        store.close()
