"""Continuous analysis inside ``tailsight up``: each cycle analyses what arrived since the last.

The cycle is a job of the process' one scheduler (:mod:`tailsight.app.jobs`), run every
``analysis_interval_s``; the SLO and alert evaluation runs right after each cycle, so an
incident pages as soon as it is detected.

The watermark (``tailsight_state`` analysis/watermark) is in data time: the end of the
range last analysed. A cycle analyses ``[watermark - reopen, horizon - settle)`` where
the horizon is the newest 10 s latency window stored, so backfilled data is analysed as
of its own time as it arrives, and the last windows, still filling, wait one cycle.
Incidents left open by an earlier cycle are re-analysed from their onset until they
close. Every cycle runs :func:`~tailsight.app.analyze.analyze_range`, the code behind
``tailsight analyze``, so continuous and manual analysis of a range agree.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tailsight.alerts.skew import FutureData
from tailsight.app.analyze import analyze_range
from tailsight.storage.state import (
    earliest_open_incident,
    get_state,
    latest_latency_window,
    set_state,
)
from tailsight.storage.store import Store

log = logging.getLogger(__name__)

SCOPE, KEY = "analysis", "watermark"


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did."""

    start: datetime | None
    end: datetime | None
    incidents: int
    seconds: float


def _floor10(ts: datetime) -> datetime:
    return ts - timedelta(seconds=ts.timestamp() % 10)


class ContinuousAnalysis:
    """Analyses stored data incrementally: each :meth:`cycle` takes what settled since the last.

    Args:
        store: the store to analyse.
        settle_s: windows younger than this (data time) are left for the next cycle.
        first_lookback_s: how far back the very first cycle starts, before any watermark.
        reopen_s: each cycle also re-analyses this much before the watermark, so a
            spike whose first windows straddle it is seen whole.
        max_skew_s: data dated later than the wall clock plus this waits until it is not;
            how much there is shows in :meth:`problems` (``/api/v1/health``).
    """

    def __init__(
        self,
        store: Store,
        settle_s: float = 20.0,
        first_lookback_s: float = 3600.0,
        reopen_s: float = 120.0,
        max_skew_s: float = 60.0,
    ) -> None:
        self.store = store
        self.settle = timedelta(seconds=settle_s)
        self.first_lookback = timedelta(seconds=first_lookback_s)
        self.reopen = timedelta(seconds=reopen_s)
        self.max_skew = timedelta(seconds=max_skew_s)
        self.skew = FutureData()
        self.last: CycleReport | None = None

    def problems(self) -> list[str]:
        return self.skew.problems()

    def cycle(self) -> CycleReport:
        """Analyse what is new since the watermark and move it forward (blocking)."""
        started = time.monotonic()
        raw = get_state(self.store, SCOPE, KEY)
        watermark = datetime.fromisoformat(raw) if raw else None
        # Data time is trusted up to the wall clock (+ skew): one span dated 2100 must not
        # carry the watermark there, after which no cycle would ever run again.
        bound = datetime.now(UTC) + self.max_skew
        self.skew.observe(self.store, bound)
        if watermark is not None and watermark > bound:
            log.warning("analysis watermark %s is in the future: starting afresh", raw)
            watermark = None
        since = (watermark - self.first_lookback) if watermark else datetime(1970, 1, 2, tzinfo=UTC)
        latest = latest_latency_window(self.store, since, bound)
        if latest is None:
            return CycleReport(None, None, 0, time.monotonic() - started)
        end = _floor10(latest + timedelta(seconds=10) - self.settle)
        if watermark is not None and end <= watermark:  # nothing new has settled
            return CycleReport(None, None, 0, time.monotonic() - started)
        start = (watermark - self.reopen) if watermark else end - self.first_lookback
        still_open = earliest_open_incident(self.store, end - self.first_lookback)
        if still_open is not None:
            start = min(start, still_open)
        start = _floor10(start)
        if end <= start:
            return CycleReport(None, None, 0, time.monotonic() - started)
        found = analyze_range(self.store, start, end, source="scheduler")
        set_state(self.store, SCOPE, KEY, max(end, watermark or end).isoformat())
        self.last = CycleReport(start, end, len(found), time.monotonic() - started)
        log.info(
            "analysed %s .. %s: %d incident(s) in %.2fs",
            start.isoformat(),
            end.isoformat(),
            len(found),
            self.last.seconds,
        )
        return self.last
