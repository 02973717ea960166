"""The 10-minute and hourly tiers (migration 15) and whole-range summaries, against a real store.

Points go into the exporter's raw tables, so the views cascade 10 s → 1 min → 5 min →
10 min → 1 h as in production; the answers are worked out by hand from the points.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tailsight.storage import Store
from tailsight.storage.dashboard_metrics import fabric_links, gpu_process_shares, metric_buckets
from tailsight.storage.dashboard_queries import operation_totals, service_totals
from tailsight.storage.rollup_tiers import summary_source
from tests.analysis.telemetry import insert_gauges, insert_spans, insert_sums, point, span
from tests.timebase import recent_noon

T0 = datetime.fromtimestamp(recent_noon(), UTC)  # noon: aligned to every tier
COUNTER = "tailsight.switch.port.io"
# Not aligned to any hour: 5-minute edges [12:25, 13:00) and [17:00, 17:35), hours between.
START = T0 + timedelta(minutes=25)
END = T0 + timedelta(hours=5, minutes=35)
RESET = 200  # the counter restarts at this minute


def _counter(minute: int) -> float:
    return 10.0 * (minute if minute < RESET else minute - RESET)


def _sums(store: Store, minutes: range | list[int]) -> None:
    insert_sums(
        store,
        [
            point(
                COUNTER,
                T0 + timedelta(minutes=m),
                _counter(m),
                "By",
                switch="leaf1",
                interface="Ethernet1",
                direction="transmit",
            )
            for m in minutes
        ],
    )


def _fill_counter(store: Store) -> None:
    """A point a minute for six hours; minutes 60–89 arrive last (late data)."""
    late = range(60, 90)
    _sums(store, [m for m in range(360) if m not in late])
    _sums(store, late)


def test_source_covers_whole_hours_and_edges() -> None:
    source = summary_source(START, END)
    assert source.tier.seconds == 300
    assert source.hours == (T0 + timedelta(hours=1), T0 + timedelta(hours=5))
    assert summary_source(T0, T0 + timedelta(minutes=50)).hours is None  # no whole hour
    week = summary_source(T0, T0 + timedelta(days=7))
    assert week.tier.seconds == 3600 and week.hours is None  # the hourly tier alone


def test_hourly_buckets_from_the_cascade_with_a_reset_and_late_data(store: Store) -> None:
    _fill_counter(store)
    rows = store.rows(
        "SELECT count(), sum(Points) FROM (SELECT Window, sum(Points) AS Points "
        "FROM tailsight_metrics_1h GROUP BY Window)"
    )
    assert rows[0] == (6, 360)
    hours = metric_buckets(store, [COUNTER], T0, T0 + timedelta(days=7), 3600)
    assert hours["points"].to_list() == [60] * 6
    third = hours.iloc[3]  # 15:00–16:00: minutes 180–239, reset at 200
    assert (third["first"], third["last"], third["peak"]) == (1800.0, 390.0, 1990.0)
    assert third["first_time"] == T0 + timedelta(minutes=180)
    assert third["last_time"] == T0 + timedelta(minutes=239)
    late = hours.iloc[1]  # the hour whose first half arrived last
    assert (late["first"], late["last"], late["points"]) == (600.0, 1190.0, 60)
    # The 10-minute tier: a day's step. Minutes 190–199 before the reset, 200–209 after it.
    tens = metric_buckets(store, [COUNTER], T0, T0 + timedelta(hours=24), 600)
    assert store.rows("SELECT sum(Points) FROM tailsight_metrics_10m")[0][0] == 360
    assert tens["points"].to_list() == [10] * 36
    assert tens.iloc[19][["first", "last", "peak"]].to_list() == [1900.0, 1990.0, 1990.0]
    assert tens.iloc[20][["first", "last", "peak"]].to_list() == [0.0, 90.0, 90.0]
    assert tens.iloc[6][["first", "last"]].to_list() == [600.0, 690.0]  # late


def test_whole_range_summary_reads_hours_and_edges(store: Store) -> None:
    _fill_counter(store)
    whole = metric_buckets(store, [COUNTER], START, END, None)
    assert len(whole) == 1
    row = whole.iloc[0]
    minutes = range(25, 335)
    assert row["points"] == len(minutes) == 310
    assert (row["first"], row["last"], row["peak"]) == (250.0, 1340.0, 1990.0)
    assert row["total"] == pytest.approx(sum(_counter(m) for m in minutes))
    assert row["first_time"] == T0 + timedelta(minutes=25)
    assert row["last_time"] == T0 + timedelta(minutes=334)
    # The same as the 5-minute buckets over the range, merged.
    buckets = metric_buckets(store, [COUNTER], START, END, 300)
    assert buckets["points"].sum() == 310 and buckets["peak"].max() == 1990.0


def test_latency_totals_over_hours_and_edges(store: Store) -> None:
    # A span every 30 s for six hours, 40 ms after the reset minute, one failure in ten.
    spans = [
        span("api", T0 + timedelta(seconds=s), 40 if s >= RESET * 60 else 4, host="n1", pid="7")
        for s in range(0, 6 * 3600, 30)
    ]
    insert_spans(store, [(*x[:-1], "Error" if i % 10 == 0 else "Ok") for i, x in enumerate(spans)])
    totals = service_totals(store, START, END)
    inside = [i for i in range(len(spans)) if 25 * 60 <= i * 30 < 335 * 60]
    assert totals.iloc[0]["requests"] == len(inside) == 620
    assert totals.iloc[0]["failures"] == sum(1 for i in inside if i % 10 == 0)
    assert totals.iloc[0]["p50_ms"] == pytest.approx(4.0)  # 175 min of 4 ms, 135 min of 40 ms
    assert totals.iloc[0]["p99_ms"] == pytest.approx(40.0)
    operations = operation_totals(store, "api", START, END)
    assert operations[["operation", "requests"]].values.tolist() == [["generate", 620]]


def test_look_ups_over_hours_and_edges(store: Store) -> None:
    # A link that moves to another port at 16:00, and a process's SM share.
    links = [
        point(
            "tailsight.nic.link",
            T0 + timedelta(minutes=m),
            1.0,
            host="n1",
            interface="eth0",
            link_switch="leaf1",
            link_port="E1" if m < 240 else "E2",
        )
        for m in range(0, 360, 5)
    ]
    shares = [
        point(
            "tailsight.gpu.process.utilization",
            T0 + timedelta(minutes=m),
            0.2 if m < 120 else 0.6,
            host="n1",
            hw_id="GPU-a",
            pid="7",
        )
        for m in range(360)
    ]
    insert_gauges(store, links + shares)
    assert fabric_links(store, START, END)[["switch", "port"]].values.tolist() == [["leaf1", "E2"]]
    got = gpu_process_shares(store, START, END).iloc[0]
    # Minutes 25–119 at 0.2 (95), 120–334 at 0.6 (215).
    assert got["mean_share"] == pytest.approx((95 * 0.2 + 215 * 0.6) / 310)
    assert got["peak_share"] == pytest.approx(0.6)


def test_a_store_that_upgrades_keeps_its_history_in_the_hourly_tier(tmp_path: Path) -> None:
    from tailsight.storage import open_store
    from tailsight.storage.ddl import Target
    from tailsight.storage.migrations import MIGRATIONS, applied_versions, migrate

    store = open_store(f"chdb://{tmp_path / 'store'}")
    try:
        # The schema before migration 15, with a day of data in its 5-minute tiers.
        migrate(store, ttl_days=30)
        for table in ("metrics", "latency"):
            for tier in ("10m", "1h"):
                store.command(f"DROP VIEW IF EXISTS tailsight_{table}_{tier}_mv")
                store.command(f"DROP TABLE tailsight_{table}_{tier}")
        store.command("DELETE FROM tailsight_schema_migrations WHERE Version = 15")
        assert 15 not in applied_versions(store)
        _fill_counter(store)
        insert_spans(store, [span("api", T0 + timedelta(minutes=m), 4) for m in range(360)])

        assert migrate(store, ttl_days=30).applied == (15,)
        assert store.rows("SELECT sum(Points) FROM tailsight_metrics_1h")[0][0] == 360
        assert store.rows("SELECT sum(Points) FROM tailsight_metrics_10m")[0][0] == 360
        whole = metric_buckets(store, [COUNTER], START, END, None).iloc[0]
        assert (whole["points"], whole["first"], whole["last"]) == (310, 250.0, 1340.0)
        assert service_totals(store, START, END).iloc[0]["requests"] == 310
        # Run again: nothing more is copied.
        for sql in next(m for m in MIGRATIONS if m.version == 15).render(Target(store.database)):
            store.command(sql)
        assert store.rows("SELECT sum(Points) FROM tailsight_metrics_1h")[0][0] == 360
        assert service_totals(store, START, END).iloc[0]["requests"] == 310
    finally:
        store.close()
