"""The continuous scheduler: incremental cycles that agree with a manual analysis of the range."""

from __future__ import annotations

import threading
from datetime import timedelta

from tailsight.app.analyze import analyze_range
from tailsight.app.continuous import KEY, SCOPE, ContinuousAnalysis
from tailsight.storage import Store
from tailsight.storage.incidents import list_incidents
from tailsight.storage.state import get_state
from tests.analysis.test_analyze_store import FAULT_AT, T0, fleet


def test_cycles_are_incremental_and_agree_with_manual_analysis(store: Store) -> None:
    scheduler = ContinuousAnalysis(store, settle_s=20.0, first_lookback_s=3600.0)
    assert scheduler.cycle().start is None  # no data yet: nothing to do

    fleet(store, "congestion", 0, 31 * 60 + 30)  # the spike has begun and is still open
    first = scheduler.cycle()
    assert first.end is not None and first.start is not None
    (open_inc,) = list_incidents(store, T0)
    assert open_inc.end is None and open_inc.start >= FAULT_AT - timedelta(seconds=20)

    fleet(store, "congestion", 31 * 60 + 30, 36 * 60)
    second = scheduler.cycle()
    assert second.start is not None and second.end is not None
    # Incremental: the second cycle starts at the open incident, not back at the first start.
    assert second.start > first.start and second.start <= open_inc.start
    assert get_state(store, SCOPE, KEY) == second.end.isoformat()
    assert scheduler.cycle().start is None  # nothing new arrived: no work

    continuous = [i.to_json() for i in list_incidents(store, T0)]
    manual = [i.to_json() for i in analyze_range(store, first.start, second.end)]
    assert continuous == manual and len(manual) == 1
    assert manual[0]["causes"][0]["entity"] == {"type": "switch_port", "id": "leaf1/Ethernet1"}


def test_manual_analysis_and_a_cycle_do_not_interleave(store: Store) -> None:
    from tailsight.app import analyze

    fleet(store, "congestion", 0, 36 * 60)
    start, end = T0 + timedelta(minutes=20), T0 + timedelta(minutes=36)
    done = threading.Event()
    with analyze._REPLACING:  # a cycle is replacing incidents
        manual = threading.Thread(target=lambda: (analyze_range(store, start, end), done.set()))
        manual.start()
        assert not done.wait(1.0)  # the manual analysis waits for it
    manual.join(60)
    assert done.is_set()
    # Overlapping analyses at once leave one analysis's worth of incidents.
    threads = [
        threading.Thread(target=analyze_range, args=(store, start - timedelta(minutes=k), end))
        for k in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    found = list_incidents(store, T0)
    assert len(found) == 1 and found[0].to_json() == analyze_range(store, start, end)[0].to_json()


def test_a_watermark_in_the_future_is_reset_and_future_data_reported(store: Store) -> None:
    from datetime import UTC, datetime

    from tailsight.storage.state import set_state

    fleet(store, "congestion", 0, 10 * 60)
    # An older version moved the watermark to 2100 after one span dated there.
    set_state(store, SCOPE, KEY, datetime(2100, 1, 1, tzinfo=UTC).isoformat())
    store.command(
        "INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanKind, Duration) "
        "VALUES ('2100-01-01 00:00:00', 'a', 'b', 'svc', 'Server', 1000)"
    )
    scheduler = ContinuousAnalysis(store, settle_s=20.0, first_lookback_s=3600.0)
    report = scheduler.cycle()
    raw = get_state(store, SCOPE, KEY)
    assert raw is not None
    bound = datetime.now(UTC) + timedelta(seconds=60)
    assert datetime.fromisoformat(raw) <= bound  # analysis goes on at the wall clock
    assert report.end is None or report.end <= bound
    assert scheduler.skew.requests == 1
    assert "dated in the future" in scheduler.problems()[0]


def test_first_cycle_analyses_a_backfill_longer_than_an_hour(store: Store) -> None:
    # 95 minutes stored before the scheduler ever ran; the spike began 65 minutes before the end.
    fleet(store, "congestion", 0, 95 * 60)
    report = ContinuousAnalysis(store, settle_s=20.0).cycle()
    assert report.start is not None and report.start <= T0
    onsets = [i.start for i in list_incidents(store, T0)]
    assert any(abs((s - FAULT_AT).total_seconds()) <= 30 for s in onsets), onsets


def test_an_incident_opened_with_little_history_closes_when_the_stream_stops(store: Store) -> None:
    # The stream starts 6 minutes before the spike and stops while it lasts.
    fleet(store, "congestion", 24 * 60, 33 * 60)
    scheduler = ContinuousAnalysis(store, settle_s=20.0, quiet_close_s=0.0)
    scheduler.cycle()
    (opened,) = list_incidents(store, T0)
    assert opened.end is None
    scheduler.cycle()  # nothing new arrived: the stream has stopped
    (closed,) = list_incidents(store, T0)
    assert closed.id == opened.id
    assert closed.end is not None and closed.end <= T0 + timedelta(minutes=33)
    # Closed for good: later queries no longer see it as lasting.
    assert list_incidents(store, T0 + timedelta(minutes=40)) == []


def test_at_the_live_edge_the_newest_window_is_judged_once_settled_by_the_wall_clock(
    store: Store,
) -> None:
    fleet(store, "congestion", 26 * 60, 33 * 60)  # the newest window ends at T0 + 33 min
    edge = T0 + timedelta(minutes=33)

    def at(seconds_after_edge: float) -> ContinuousAnalysis:
        moment = edge + timedelta(seconds=seconds_after_edge)
        return ContinuousAnalysis(store, settle_s=5.0, clock=lambda: moment)

    # Still settling (3 s after its end): the newest window waits.
    assert at(3).cycle().end == edge - timedelta(seconds=10)
    store.command("TRUNCATE TABLE tailsight_state")
    # Settled and live (6 s after its end): judged now, not when the next window arrives.
    assert at(6).cycle().end == edge
    store.command("TRUNCATE TABLE tailsight_state")
    # Long after (a backfill that may stop mid-window): the newest window waits as before.
    assert at(3600).cycle().end == edge - timedelta(seconds=10)
