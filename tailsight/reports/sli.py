"""SLI counts for a report, batched: one SLO-rollup query serves every span SLO of a range.

:func:`tailsight.alerts.evaluate.sli_series` answers one SLO at a time, two queries each
(good and total); fifty SLOs over a week and their windows made a hundred queries and
merged each service's histograms again for every SLO of it. Here the first request for
a range fetches the rollup rows of all the report's span services at once, and the
latency thresholds of all the report's SLOs are applied in the engine
(``storage.slo_cut_queries``): a bucket comes back as a few numbers, not a histogram to
decode in Python. The incidents' intervals are fetched together too
(:meth:`BatchedSli.prefetch`), one query for all of them instead of one each. SLOs with
a metric source, or a threshold the batch was not built for, go to ``sli_series``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from tailsight.alerts.evaluate import sli_series
from tailsight.alerts.slo import Slo, SpanSelector
from tailsight.storage.slo_cut_queries import Cut, CutCounts, span_interval_cuts, span_series_cuts
from tailsight.storage.slo_queries import ROLLUP_S
from tailsight.storage.store import Store

Rows = dict[str, dict[int, list[CutCounts]]]  # service -> bucket start -> rows


def _cut(selector: SpanSelector) -> Cut | None:
    if selector.max_duration_ms is None:
        return None
    return Cut.of(selector.max_duration_ms, selector.ok)


def _spans(slo: Slo) -> tuple[SpanSelector, SpanSelector] | None:
    good, total = slo.good, slo.total
    if isinstance(good, SpanSelector) and isinstance(total, SpanSelector):
        return good, total
    return None


class BatchedSli:
    """An :class:`~tailsight.reports.build.SliSource` that reads each range once for all SLOs."""

    def __init__(self, store: Store, slos: Sequence[Slo]) -> None:
        self.store = store
        selectors = [pair for s in slos if (pair := _spans(s))]
        self.services = sorted({sel.service for pair in selectors for sel in pair})
        self.cuts = sorted({c for pair in selectors for sel in pair if (c := _cut(sel))})
        self._at = {c: i for i, c in enumerate(self.cuts)}
        self._ranges: dict[tuple[int, int, int], Rows] = {}
        self._intervals: dict[tuple[str, int, int], list[CutCounts]] = {}
        self.queries = 0

    def prefetch(self, intervals: Sequence[tuple[str, int, int]]) -> None:
        """Read ``(service, start, end)`` intervals (10 s boundaries) in one query, for later calls."""
        wanted = sorted({iv for iv in intervals if iv[1] < iv[2] and iv not in self._intervals})
        if not wanted:
            return
        found: dict[int, list[CutCounts]] = defaultdict(list)
        for row in span_interval_cuts(self.store, wanted, self.cuts):
            found[row.window].append(row)
        for i, iv in enumerate(wanted):
            self._intervals[iv] = found.get(i, [])
        self.queries += 1

    def _rows(self, lo: int, hi: int, step_s: int) -> Rows:
        key = (lo, hi, step_s)
        if key not in self._ranges:
            grouped: Rows = defaultdict(lambda: defaultdict(list))
            for row in span_series_cuts(self.store, self.services, lo, hi, step_s, self.cuts):
                grouped[row.service][row.window].append(row)
            self._ranges[key] = grouped
            self.queries += 1
        return self._ranges[key]

    def _bucket_rows(
        self, service: str, lo: int, hi: int, step_s: int
    ) -> dict[int, list[CutCounts]]:
        if step_s == hi - lo and (service, lo, hi) in self._intervals:
            return {lo: self._intervals[(service, lo, hi)]}
        return self._rows(lo, hi, step_s).get(service, {})

    def _count(self, rows: Sequence[CutCounts], selector: SpanSelector) -> float:
        """Adjusted count of the requests ``selector`` keeps, as ``evaluate.count_spans`` counts."""
        cut = _cut(selector)
        at = None if cut is None else self._at[cut]
        total = 0.0
        for row in rows:
            if selector.operation is not None and row.operation != selector.operation:
                continue
            if at is not None:
                total += row.good[at]
            else:
                total += row.requests - row.failures if selector.ok else row.requests
        return total

    def __call__(
        self, slo: Slo, start: datetime, end: datetime, step_s: int
    ) -> list[tuple[datetime, float, float]]:
        pair = _spans(slo)
        if pair is None or any(c not in self._at for sel in pair if (c := _cut(sel))):
            return sli_series(self.store, slo, start, end, step_s)
        good, total = pair
        if step_s <= 0 or step_s % ROLLUP_S:
            raise ValueError(f"step_s must be a positive multiple of {ROLLUP_S}, not {step_s}")
        lo = int(start.timestamp()) // ROLLUP_S * ROLLUP_S
        hi = -(-int(end.timestamp()) // ROLLUP_S) * ROLLUP_S
        goods = self._bucket_rows(good.service, lo, hi, step_s)
        totals = self._bucket_rows(total.service, lo, hi, step_s)
        out = []
        for bucket in range(lo, hi, step_s):
            t = self._count(totals.get(bucket, []), total)
            g = self._count(goods.get(bucket, []), good)
            out.append((datetime.fromtimestamp(bucket, UTC), min(g, t), t))
        return out
