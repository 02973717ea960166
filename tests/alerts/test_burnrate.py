"""Burn rates against hand-computed windows, through the real store and the SLO rollup.

Each test places requests at known times before ``END`` (the exclusive end of every
window), evaluates at a time inside the last 10 s window, and checks the burn rates a
person computes from the counts: (bad / total) / (1 - target).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from tailsight.alerts.burnrate import breached_rules, burn_rate, rule_breached
from tailsight.alerts.evaluate import evaluate_slos, histogram_increments, period_start, window_end
from tailsight.alerts.slo import (
    DEFAULT_RULES,
    MetricSelector,
    Slo,
    SloStatus,
    SpanSelector,
)
from tailsight.storage import Store
from tailsight.storage.slo_queries import HistogramPoints
from tests.timebase import recent_noon

END = int(recent_noon(1)) + 7 * 60  # 12:07:00 UTC yesterday: windows cross hour boundaries
NOW = datetime.fromtimestamp(END - 4, UTC)  # inside the last 10 s window, which ends at END
TARGET = 0.99
SPAN_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "SpanName", "SpanKind", "ServiceName",
    "SpanAttributes", "Duration", "StatusCode", "TraceState",
)  # fmt: skip


def spans(at: float, n: int, bad: int, service: str = "svc", trace_state: str = "") -> list[Any]:
    """``n`` server spans at ``at`` (unix s), ``bad`` of them failed (status Error)."""
    ts = datetime.fromtimestamp(at, UTC)
    return [
        (ts, secrets.token_hex(16), secrets.token_hex(8), "generate", "Server", service, {},
         50_000_000, "Error" if i < bad else "Ok", trace_state)
        for i in range(n)
    ]  # fmt: skip


def insert(store: Store, rows: list[Any]) -> None:
    store.insert("otel_traces", rows, SPAN_COLUMNS)


def availability(name: str = "avail", service: str = "svc", min_requests: int = 20) -> Slo:
    return Slo(
        name=name,
        display_name=name,
        service=service,
        description="",
        target=TARGET,
        window_s=28 * 86400,
        rolling=True,
        good=SpanSelector(service, None, None, True),
        total=SpanSelector(service, None, None, False),
        rules=DEFAULT_RULES,
        min_requests=min_requests,
        file="test.yaml",
    )


def test_window_end_is_the_end_of_the_current_10s_window() -> None:
    assert window_end(NOW) == END
    assert window_end(datetime.fromtimestamp(END, UTC)) == END + 10


# (rule, short: requests/bad, rest of the long window: requests/bad, burn short, burn long)
PAIRS = [
    (DEFAULT_RULES[0], (200, 40), (1800, 260), 20.0, 15.0),  # 1h/5m: pages
    (DEFAULT_RULES[1], (300, 30), (2700, 120), 10.0, 5.0),  # 6h/30m: long below 6x
    (DEFAULT_RULES[2], (400, 16), (3600, 104), 4.0, 3.0),  # 1d/2h: tickets (3.0 >= 3)
    (DEFAULT_RULES[3], (500, 5), (9500, 95), 1.0, 1.0),  # 3d/6h: tickets at exactly 1x
]


@pytest.mark.parametrize("pair", PAIRS, ids=[p[0].name for p in PAIRS])
def test_burn_rate_per_window_pair(store: Store, pair: Any) -> None:
    rule, (n_short, bad_short), (n_rest, bad_rest), want_short, want_long = pair
    # The short window's requests at its very first 10 s and its last; the rest of the
    # long window's at its first 10 s and just before the short window starts.
    rows = spans(END - rule.short_s, n_short // 2, bad_short // 2)
    rows += spans(END - 1, n_short - n_short // 2, bad_short - bad_short // 2)
    rows += spans(END - rule.long_s, n_rest // 2, bad_rest // 2)
    rows += spans(END - rule.short_s - 1, n_rest - n_rest // 2, bad_rest - bad_rest // 2)
    # Outside both: just before the long window and at END itself.
    rows += spans(END - rule.long_s - 1, 1000, 1000) + spans(END, 1000, 1000)
    insert(store, rows)
    (status,) = evaluate_slos(store, [availability()], NOW)
    short, long = rule.name.split("/")[1], rule.name.split("/")[0]
    assert status.requests[short] == n_short
    assert status.requests[long] == n_short + n_rest
    assert status.good[long] == n_short + n_rest - bad_short - bad_rest
    assert status.burn_rates[short] == pytest.approx(want_short)
    assert status.burn_rates[long] == pytest.approx(want_long)
    breached = want_short >= rule.factor and want_long >= rule.factor
    assert rule_breached(status, rule) is breached
    # The same counts below the request floor never breach.
    thin = availability(min_requests=int(n_short) + 1)
    (thin_status,) = evaluate_slos(store, [thin], NOW)
    assert rule_breached(thin_status, rule) is False


def test_no_traffic_has_no_sli_budget_or_burn(store: Store) -> None:
    insert(store, spans(END - 60, 100, 100, service="other"))
    (status,) = evaluate_slos(store, [availability()], NOW)
    assert status.sli is None and status.error_budget_remaining is None
    assert set(status.burn_rates) == {"5m", "30m", "1h", "2h", "6h", "1d", "3d"}
    assert all(v is None for v in status.burn_rates.values())
    assert all(v == 0 for v in status.requests.values())
    assert breached_rules(status) == []
    body = status.to_json(alerts_firing=0)
    assert body["sli"] is None and body["burn_rates"]["1h"] is None


def test_sli_and_budget_over_the_slo_window(store: Store) -> None:
    # 10,000 requests over the 28 days (the oldest 27 days ago), 150 failed: 1.5 % of a
    # 1 % budget: SLI 0.985, budget remaining 1 - 1.5 = -0.5.
    insert(store, spans(END - 27 * 86400, 5000, 100) + spans(END - 3600 * 5 - 7, 5000, 50))
    (status,) = evaluate_slos(store, [availability()], NOW)
    assert status.sli == pytest.approx(0.985)
    assert status.error_budget_remaining == pytest.approx(-0.5)
    assert status.window_requests == 10000
    assert status.burn_rates["6h"] == pytest.approx(1.0)  # 50 / 5000 / 0.01


def test_data_arriving_late_is_counted_at_the_next_evaluation(store: Store) -> None:
    insert(store, spans(END - 120, 100, 0))
    (first,) = evaluate_slos(store, [availability()], NOW)
    assert first.requests["5m"] == 100 and first.burn_rates["5m"] == 0
    # Spans of windows already evaluated arrive later (an exporter's retry, a backfill).
    insert(store, spans(END - 250, 100, 20) + spans(END - 3000, 50, 5))
    (second,) = evaluate_slos(store, [availability()], NOW)
    assert second.requests["5m"] == 200
    assert second.burn_rates["5m"] == pytest.approx(20 / 200 / 0.01)
    assert second.requests["1h"] == 250
    assert second.burn_rates["1h"] == pytest.approx(25 / 250 / 0.01)


def test_sampled_spans_count_with_their_adjusted_count(store: Store) -> None:
    # th:c = probability 1/4 (OTEP 235); p:3 = 1/8 (the older p-value); p:63 counts zero.
    rows = spans(END - 60, 10, 1, trace_state="vendor=x,ot=th:c;rv:abcdef12345678")
    rows += spans(END - 60, 10, 0, trace_state="ot=p:3")
    rows += spans(END - 60, 10, 10, trace_state="ot=p:63")
    insert(store, rows)
    (status,) = evaluate_slos(store, [availability()], NOW)
    assert status.requests["5m"] == pytest.approx(10 * 4 + 10 * 8)
    assert status.good["5m"] == pytest.approx(9 * 4 + 10 * 8)


def test_burn_rate_formula() -> None:
    assert burn_rate(990, 1000, 0.99) == pytest.approx(1.0)
    assert burn_rate(856, 1000, 0.99) == pytest.approx(14.4)
    assert burn_rate(0, 0, 0.99) is None
    status = SloStatus(
        slo=availability(),
        at=NOW,
        sli=None,
        error_budget_remaining=None,
        burn_rates={"1h": 20.0, "5m": 14.4},
        requests={"1h": 100.0, "5m": 20.0},
        good={},
    )
    assert rule_breached(status, DEFAULT_RULES[0]) is True
    assert rule_breached(status, DEFAULT_RULES[1]) is False  # no 6h/30m figures: no traffic


HIST_COLUMNS = (
    "ServiceName", "MetricName", "Attributes", "StartTimeUnix", "TimeUnix", "Count", "Sum",
    "BucketCounts", "ExplicitBounds", "AggregationTemporality",
)  # fmt: skip
BOUNDS = [0.1, 0.5, 1.0]


def hist(
    at: float, start: float, buckets: list[int], temporality: int = 2, model: str = "m"
) -> Any:
    return (
        "llm",
        "ttft",
        {"gen_ai.request.model": model},
        datetime.fromtimestamp(start, UTC),
        datetime.fromtimestamp(at, UTC),
        sum(buckets),
        0.0,
        buckets,
        BOUNDS,
        temporality,
    )


def ttft_slo() -> Slo:
    total = MetricSelector("ttft", (("gen_ai.request.model", "m"),), None)
    return Slo(
        "ttft", "ttft", "llm", "", 0.9, 7 * 86400, True,
        MetricSelector("ttft", (("gen_ai.request.model", "m"),), 0.5), total,
        DEFAULT_RULES, 1, "t.yaml",
    )  # fmt: skip


def test_metric_source_counter_reset(store: Store) -> None:
    # A cumulative histogram (buckets <=0.1, <=0.5, <=1, +Inf) read every minute over
    # the last 5 minutes; the process restarts between the 3rd and 4th points.
    s0 = END - 7200.0
    s1 = END - 150.0
    points = [
        hist(END - 290, s0, [10, 10, 5, 5]),  # first point: its base lies before the window
        hist(END - 230, s0, [20, 15, 5, 10]),  # +10 +5 +0 +5: 20 new, 15 good
        hist(END - 170, s0, [30, 20, 8, 12]),  # +10 +5 +3 +2: 20 new, 15 good
        hist(END - 110, s1, [4, 1, 0, 5]),  # reset: 10 new, 5 good
        hist(END - 50, s1, [6, 2, 0, 5]),  # +2 +1: 3 new, 3 good
        hist(END - 50, s0, [9, 9, 9, 9], model="other"),  # another model
    ]
    store.insert("otel_metrics_histogram", points, HIST_COLUMNS)
    (status,) = evaluate_slos(store, [ttft_slo()], NOW)
    assert status.requests["5m"] == 20 + 20 + 10 + 3
    assert status.good["5m"] == 15 + 15 + 5 + 3
    bad = 53 - 38
    assert status.burn_rates["5m"] == pytest.approx(bad / 53 / 0.1)
    # The first point counts at its series' start, 2 h back: in the 2 h window only.
    assert status.requests["1h"] == 53
    assert status.requests["2h"] == 83 and status.good["2h"] == 38 + 20


def test_histogram_increments_delta_and_drop() -> None:
    points = HistogramPoints(
        series=np.array([1, 1, 1, 2, 2], dtype=np.uint64),
        time_s=np.array([10.0, 20, 30, 10, 20]),
        start_time_s=np.array([5.0, 5, 5, 0, 0]),
        temporality=np.array([2, 2, 2, 1, 1], dtype=np.int32),
        count=np.array([4.0, 9, 3, 7, 2]),
        good=np.array([4.0, 8, 1, 6, 2]),
    )
    times, good, total = histogram_increments(points, first_start=0.0)
    assert times.tolist() == [5, 20, 30, 10, 20]  # the first cumulative point at its start
    assert total.tolist() == [4, 5, 3, 7, 2]  # started inside: counted; drop: a reset
    assert good.tolist() == [4, 4, 1, 6, 2]
    _, _, late = histogram_increments(points, first_start=6.0)
    assert late.tolist() == [0, 5, 3, 7, 2]  # its base before the data read: not counted


def test_calendar_periods_start_in_their_time_zone() -> None:
    at = datetime(2026, 11, 18, 2, 30, tzinfo=UTC)  # a Wednesday
    assert period_start(at, "d") == datetime(2026, 11, 18, tzinfo=UTC)
    assert period_start(at, "w") == datetime(2026, 11, 16, tzinfo=UTC)
    assert period_start(at, "M") == datetime(2026, 11, 1, tzinfo=UTC)
    assert period_start(at, "Q") == datetime(2026, 10, 1, tzinfo=UTC)
    assert period_start(at, "Y") == datetime(2026, 1, 1, tzinfo=UTC)
    # Paris is UTC+1 in November; its October began at UTC+2 (summer time).
    assert period_start(at, "M", "Europe/Paris") == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert period_start(at, "Q", "Europe/Paris") == datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert period_start(
        datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "M", "Europe/Paris"
    ) == datetime(2026, 11, 30, 23, tzinfo=UTC)


def test_calendar_slo_counts_from_the_start_of_its_period(store: Store) -> None:
    day_start = END // 86400 * 86400
    insert(
        store, spans(day_start - 10, 100, 100) + spans(day_start, 100, 1) + spans(END - 30, 100, 1)
    )
    slo = replace(availability(), rolling=False, window_s=86400, window_text="1d", calendar="d")
    (status,) = evaluate_slos(store, [slo], NOW)
    assert status.window_start == datetime.fromtimestamp(day_start, UTC)
    assert status.window_requests == 200 and status.sli == pytest.approx(0.99)
    assert status.to_json()["window"] == "1d" and status.to_json()["rolling"] is False
