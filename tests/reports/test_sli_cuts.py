"""The report's batched SLI (thresholds applied in the engine) counts what the evaluator counts.

Spans of three services, two operations, a few latencies around the thresholds, errors
and sampled spans (adjusted counts above 1) are written through the real ingest views;
every bucket and every incident interval the report asks for must equal
``evaluate.sli_series`` (histograms merged and counted in Python) on the same store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tailsight.alerts.evaluate import sli_series
from tailsight.alerts.slo import Slo, SpanSelector
from tailsight.reports.sli import BatchedSli
from tailsight.storage.store import Store
from tests.timebase import recent_noon

SPANS = 40_000
SPAN_S = 2 * 86400


def _fill(store: Store, start: int) -> None:
    store.command(
        f"""
        INSERT INTO otel_traces (Timestamp, TraceId, SpanId, SpanName, SpanKind, ServiceName,
            Duration, StatusCode, TraceState)
        SELECT toDateTime64({start} + n * {SPAN_S / SPANS}, 9, 'UTC'), hex(cityHash64(n, 1)),
               hex(cityHash64(n, 2)), if(n % 7 = 0, 'embed', 'generate'), 'Server',
               concat('svc-', toString(n % 3)),
               toUInt64(arrayElement([100e6, 250e6, 250000001, 251e6, 900e6], 1 + cityHash64(n, 3) % 5)),
               if(cityHash64(n, 5) % 50 = 0, 'Error', 'Ok'),
               if(n % 4 = 0, 'ot=th:8', '')
        FROM (SELECT number AS n FROM numbers({SPANS}))
        """
    )


def _slos() -> list[Slo]:
    out = []
    for s in range(3):
        svc = f"svc-{s}"
        for name, good in (
            ("latency", SpanSelector(svc, max_duration_ms=250.0)),
            ("latency-ok", SpanSelector(svc, max_duration_ms=250.0, ok=True)),
            ("embed", SpanSelector(svc, "embed", max_duration_ms=900.0)),
            ("availability", SpanSelector(svc, ok=True)),
        ):
            total = SpanSelector(svc, "embed") if name == "embed" else SpanSelector(svc)
            out.append(Slo(f"{svc}-{name}", "", svc, "", 0.99, 7 * 86400, True, good, total))
    return out


def _same(a: list[tuple[datetime, float, float]], b: list[tuple[datetime, float, float]]) -> None:
    assert [t for t, _, _ in a] == [t for t, _, _ in b]
    for (_, ga, ta), (_, gb, tb) in zip(a, b, strict=True):
        assert ga == pytest.approx(gb, rel=1e-9, abs=1e-9)
        assert ta == pytest.approx(tb, rel=1e-9, abs=1e-9)


def test_batched_counts_equal_the_evaluators(store: Store) -> None:
    start = int(recent_noon(4))
    _fill(store, start)
    slos = _slos()
    sli = BatchedSli(store, slos)
    begin = datetime.fromtimestamp(start - 3600, UTC)
    end = begin + timedelta(days=3)
    intervals = [(f"svc-{i % 3}", start + 600 * i + 10, start + 600 * i + 130) for i in range(40)]
    sli.prefetch(intervals)
    assert sli.queries == 1
    seen = 0.0
    for slo in slos:
        hourly = sli(slo, begin, end, 3600)
        _same(hourly, sli_series(store, slo, begin, end, 3600))
        seen += sum(t for _, _, t in hourly)
        for service, lo, hi in intervals:
            if service != slo.service:
                continue
            a, b = (datetime.fromtimestamp(x, UTC) for x in (lo, hi))
            _same(sli(slo, a, b, hi - lo), sli_series(store, slo, a, b, hi - lo))
    assert sli.queries == 2  # the intervals, then one hourly range for every SLO
    assert seen > SPANS  # sampled spans count for more than one request
    # A threshold the batch was not built for is counted by the evaluator.
    other = Slo(
        "x",
        "",
        "svc-1",
        "",
        0.99,
        86400,
        True,
        SpanSelector("svc-1", max_duration_ms=101.0),
        SpanSelector("svc-1"),
    )
    _same(sli(other, begin, end, 3600), sli_series(store, other, begin, end, 3600))
