"""SLI counts for a report, batched: one SLO-rollup query serves every span SLO of a range.

:func:`tailsight.alerts.evaluate.sli_series` answers one SLO at a time, two queries each
(good and total); fifty SLOs over a week and their windows made a hundred queries and
merged each service's histograms again for every SLO of it. Here the first request for
a range fetches the rollup rows of all the report's span services at once
(``span_series_counts`` takes a list), later SLOs of that range are counted from those
rows with the evaluator's own ``count_spans``. SLOs with a metric source go to
``sli_series`` unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from tailsight.alerts.evaluate import count_spans, sli_series
from tailsight.alerts.slo import Slo, SpanSelector
from tailsight.storage.slo_queries import ROLLUP_S, SpanCounts, span_series_counts
from tailsight.storage.store import Store

Rows = dict[str, dict[int, list[SpanCounts]]]  # service -> bucket start -> rows


class BatchedSli:
    """An :class:`~tailsight.reports.build.SliSource` that reads each range once for all SLOs."""

    def __init__(self, store: Store, slos: Sequence[Slo]) -> None:
        self.store = store
        self.services = sorted(
            {
                s.service
                for s in slos
                if isinstance(s.good, SpanSelector) and isinstance(s.total, SpanSelector)
            }
        )
        self._ranges: dict[tuple[int, int, int], Rows] = {}
        self.queries = 0

    def _rows(self, lo: int, hi: int, step_s: int) -> Rows:
        key = (lo, hi, step_s)
        if key not in self._ranges:
            grouped: Rows = defaultdict(lambda: defaultdict(list))
            for row in span_series_counts(self.store, self.services, lo, hi, step_s):
                grouped[row.service][row.window].append(row)
            self._ranges[key] = grouped
            self.queries += 1
        return self._ranges[key]

    def __call__(
        self, slo: Slo, start: datetime, end: datetime, step_s: int
    ) -> list[tuple[datetime, float, float]]:
        good, total = slo.good, slo.total
        if not (isinstance(good, SpanSelector) and isinstance(total, SpanSelector)):
            return sli_series(self.store, slo, start, end, step_s)
        if step_s <= 0 or step_s % ROLLUP_S:
            raise ValueError(f"step_s must be a positive multiple of {ROLLUP_S}, not {step_s}")
        lo = int(start.timestamp()) // ROLLUP_S * ROLLUP_S
        hi = -(-int(end.timestamp()) // ROLLUP_S) * ROLLUP_S
        by_bucket = self._rows(lo, hi, step_s).get(good.service, {})
        other = (
            self._rows(lo, hi, step_s).get(total.service, {})
            if total.service != good.service
            else by_bucket
        )
        out = []
        for bucket in range(lo, hi, step_s):
            t = count_spans(other.get(bucket, []), total)
            g = count_spans(by_bucket.get(bucket, []), good)
            out.append((datetime.fromtimestamp(bucket, UTC), min(g, t), t))
        return out
