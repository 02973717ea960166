"""The SLO rollup against exact counts from raw spans, on simulated traffic in the real store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tailsight.alerts.evaluate import count_spans, evaluate_slos, sli_series
from tailsight.alerts.slo import DEFAULT_RULES, Slo, SpanSelector
from tailsight.sim.faults import Fault
from tailsight.sim.scenario import Scenario
from tailsight.storage import Store
from tailsight.storage.slo_queries import raw_span_counts, span_window_counts
from tests.alerts.simspans import store_sim_spans
from tests.sim.simdata import SPEC
from tests.timebase import recent_noon

START = int(recent_noon(1))
DURATION = 1800


def scenario() -> Scenario:
    # A load surge on the gateway halfway through: a realistic tail and some errors.
    surge = Fault("f1", "load_surge", START + 600, START + 1200, "llm-gateway", 1.5, 30.0)
    return Scenario(seed=5, start=START, duration_s=DURATION, fleet=SPEC, faults=(surge,))


@pytest.fixture
def filled(store: Store) -> Store:
    assert store_sim_spans(store, scenario()) > 10_000
    return store


def raw(store: Store, sel: SpanSelector, start: int, end: int) -> float:
    return raw_span_counts(
        store, sel.service, sel.operation, sel.max_duration_ms, sel.ok, start, end
    )


def test_rollup_counts_match_raw_spans(filled: Store) -> None:
    store = filled
    end = START + DURATION
    # Every window from the whole half hour (10 s rows only) to 3 h (hours and 10 s rows).
    starts = [end - 300, end - 1800, START + 610, end - 3 * 3600]
    rows = span_window_counts(store, ["llm-gateway", "embedder"], starts, end)
    p90_ms = store.rows(
        "SELECT quantileExact(0.9)(Duration) / 1e6 FROM otel_traces "
        "WHERE ServiceName = 'llm-gateway' AND SpanKind = 'Server'"
    )[0][0]
    round_ms = float(f"{p90_ms:.3g}")  # three significant digits: counted exactly
    odd_ms = p90_ms * 1.0037 + 0.000123  # any other threshold: within 0.1 percentage point
    checked = 0
    for service in ("llm-gateway", "embedder"):
        for i, start in enumerate(starts):
            group = [r for r in rows if r.service == service and r.window == i]
            total = raw(store, SpanSelector(service), start, end)
            assert total > 0
            assert count_spans(group, SpanSelector(service)) == pytest.approx(total, rel=1e-9)
            for sel in (
                SpanSelector(service, ok=True),
                SpanSelector(service, max_duration_ms=round_ms),
                SpanSelector(service, max_duration_ms=round_ms, ok=True),
                SpanSelector(service, operation="no-such-operation"),
            ):
                assert count_spans(group, sel) == pytest.approx(
                    raw(store, sel, start, end), rel=1e-9, abs=1e-9
                )
            odd = SpanSelector(service, max_duration_ms=odd_ms)
            error_pp = abs(count_spans(group, odd) - raw(store, odd, start, end)) / total * 100
            assert error_pp <= 0.1, (service, start, error_pp)
            checked += 1
    assert checked == 8
    # Windows ending a day later: whole UTC days from the daily tier, 5 min and 10 s edges.
    later = START + 86400 + 600
    starts = [later - 2 * 86400, START + 130, START - 3590, START + 1210]
    rows = span_window_counts(store, ["reranker"], starts, later)
    for i, start in enumerate(starts):
        group = [r for r in rows if r.window == i]
        for sel in (
            SpanSelector("reranker"),
            SpanSelector("reranker", max_duration_ms=round_ms, ok=True),
        ):
            assert count_spans(group, sel) == pytest.approx(raw(store, sel, start, later), rel=1e-9)
    # The surge made some requests slow: the threshold is not trivially met by all.
    slow = raw(store, SpanSelector("llm-gateway", max_duration_ms=round_ms), START, end)
    assert slow < raw(store, SpanSelector("llm-gateway"), START, end)


def test_evaluation_and_series_agree_with_raw_spans(filled: Store) -> None:
    store = filled
    end = START + DURATION
    good = SpanSelector("llm-gateway", max_duration_ms=500.0, ok=True)
    total = SpanSelector("llm-gateway")
    slo = Slo("gw", "gw", "llm-gateway", "", 0.99, 86400, True, good, total, DEFAULT_RULES, 20, "t")
    (status,) = evaluate_slos(store, [slo], datetime.fromtimestamp(end - 1, UTC))
    for key, seconds in (("5m", 300), ("30m", 1800), ("1h", 3600)):
        assert status.requests[key] == pytest.approx(raw(store, total, end - seconds, end))
        assert status.good[key] == pytest.approx(raw(store, good, end - seconds, end))
    series = sli_series(
        store, slo, datetime.fromtimestamp(START, UTC), datetime.fromtimestamp(end, UTC), 300
    )
    assert len(series) == DURATION // 300
    assert series[0][0] == datetime.fromtimestamp(START, UTC)
    for at, g, t in series:
        lo = int(at.timestamp())
        assert t == pytest.approx(raw(store, total, lo, lo + 300))
        assert g == pytest.approx(raw(store, good, lo, lo + 300))
    assert sum(t for _, _, t in series) == pytest.approx(status.requests["30m"])
    day = START - 43200  # midnight UTC: daily points read the daily tier
    daily = sli_series(
        store,
        slo,
        datetime.fromtimestamp(day, UTC),
        datetime.fromtimestamp(day + 2 * 86400, UTC),
        86400,
    )
    assert [t for _, _, t in daily] == pytest.approx([raw(store, total, day, day + 86400), 0.0])
    assert daily[0][1] == pytest.approx(raw(store, good, day, day + 86400))
