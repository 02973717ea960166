"""Continuous analysis inside ``tailsight up``: each cycle analyses what arrived since the last.

The cycle is a job of the process' one scheduler (:mod:`tailsight.app.jobs`), run every
``analysis_interval_s``; the SLO and alert evaluation runs right after each cycle, so an
incident pages as soon as it is detected. Data time is trusted up to the wall clock plus
``max_skew_s``: one span dated 2100 must not carry the watermark there.

The watermark (``tailsight_state`` analysis/watermark) is in data time: the end of the
range last analysed. A cycle analyses ``[watermark - reopen, horizon - settle)`` where
the horizon is the newest 10 s latency window stored, so backfilled data is analysed as
of its own time as it arrives, and the last windows, still filling, wait one cycle. At the
live edge (the newest window ended less than ``LIVE_EDGE`` ago by the wall clock) the
newest window is judged as soon as ``settle_s`` has passed since its end rather than when
the next window's data arrives: that is up to a window sooner for a page.
Incidents left open by an earlier cycle are re-analysed from their onset until they
close, however old. The first cycle starts at the oldest stored window, and data stored
before the oldest window seen so far (a backfill of older history) is analysed when it
appears, so backfills of any length are analysed completely. When no new data has
settled for ``quiet_close_s``, open incidents are closed at their last anomalous window:
a stream that stopped (a replay, a decommissioned service) leaves nothing open for ever.
Every cycle runs :func:`~tailsight.app.analyze.analyze_range`, the code behind
``tailsight analyze``, so continuous and manual analysis of a range agree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tailsight.alerts.skew import FutureData
from tailsight.app.analyze import analyze_range
from tailsight.storage.state import (
    earliest_latency_window,
    earliest_open_incident,
    get_state,
    latest_latency_window,
    set_state,
)
from tailsight.storage.store import Store

log = logging.getLogger(__name__)

SCOPE, KEY = "analysis", "watermark"
EARLIEST = "earliest"  # the oldest window analysed so far (data time)
EPOCH = datetime(1970, 1, 2, tzinfo=UTC)
# A newest window that ended less than this ago (wall clock) is live data, complete once
# ``settle_s`` has passed; older ones may be a backfill cut mid-window, so they wait for
# the next window as before.
LIVE_EDGE = timedelta(seconds=30)
WINDOW = timedelta(seconds=10)


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
        first_lookback_s: how far back the very first cycle may start, before any
            watermark; None (the default): from the oldest stored window.
        reopen_s: each cycle also re-analyses this much before the watermark, so a
            spike whose first windows straddle it is seen whole.
        quiet_close_s: wall-clock seconds without new data after which incidents still
            open are closed at their last anomalous window.
        max_skew_s: data dated later than the wall clock plus this waits until it is not;
            how much there is shows in :meth:`problems` (``/api/v1/health``).
        clock: the wall clock (tests pass a fixed one).
    """

    def __init__(
        self,
        store: Store,
        settle_s: float = 20.0,
        first_lookback_s: float | None = None,
        reopen_s: float = 120.0,
        quiet_close_s: float = 300.0,
        max_skew_s: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clock = clock
        self.store = store
        self.settle = timedelta(seconds=settle_s)
        self.first_lookback = (
            timedelta(seconds=first_lookback_s) if first_lookback_s is not None else None
        )
        self.reopen = timedelta(seconds=reopen_s)
        self.quiet_close_s = quiet_close_s
        self._quiet_since: float | None = None
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
        now = self.clock()
        bound = now + self.max_skew
        self.skew.observe(self.store, bound)
        if watermark is not None and watermark > bound:
            log.warning("analysis watermark %s is in the future: starting afresh", raw)
            watermark = None
        since = (watermark - timedelta(hours=1)) if watermark else EPOCH
        latest = latest_latency_window(self.store, since, bound)
        if latest is None:
            return CycleReport(None, None, 0, time.monotonic() - started)
        end = _floor10(latest + WINDOW - self.settle)
        if latest + WINDOW + self.settle <= now < latest + WINDOW + LIVE_EDGE:
            end = _floor10(latest + WINDOW)  # live and complete by the wall clock
        earliest = earliest_latency_window(self.store)
        raw_earliest = get_state(self.store, SCOPE, EARLIEST)
        seen_from = datetime.fromisoformat(raw_earliest) if raw_earliest else None
        older = (
            earliest is not None and seen_from is not None and earliest < seen_from
        )  # history stored before what was analysed: a backfill of older data
        if watermark is not None and end <= watermark and not older:  # nothing new has settled
            return self._quiet(watermark, started)
        self._quiet_since = None
        if watermark is None:
            start = earliest or end
            if self.first_lookback is not None:
                start = max(start, end - self.first_lookback)
        else:
            start = watermark - self.reopen
        if older and earliest is not None:
            start = min(start, earliest)
        still_open = earliest_open_incident(self.store, EPOCH)
        if still_open is not None:
            start = min(start, still_open)
        start = _floor10(start)
        end = max(end, watermark or end)
        if end <= start:
            return CycleReport(None, None, 0, time.monotonic() - started)
        found = analyze_range(self.store, start, end, source="scheduler")
        set_state(self.store, SCOPE, KEY, end.isoformat())
        if earliest is not None and (seen_from is None or earliest < seen_from):
            set_state(self.store, SCOPE, EARLIEST, earliest.isoformat())
        self.last = CycleReport(start, end, len(found), time.monotonic() - started)
        log.info(
            "analysed %s .. %s: %d incident(s) in %.2fs",
            start.isoformat(),
            end.isoformat(),
            len(found),
            self.last.seconds,
        )
        return self.last

    def _quiet(self, watermark: datetime, started: float) -> CycleReport:
        """No new data: after ``quiet_close_s`` of that, close incidents still open."""
        now = time.monotonic()
        if self._quiet_since is None:
            self._quiet_since = now
        still_open = earliest_open_incident(self.store, EPOCH)
        if still_open is None or now - self._quiet_since < self.quiet_close_s:
            return CycleReport(None, None, 0, now - started)
        # Analysed to past the data's end, a spike that lasted to the last window ends there.
        start, end = _floor10(still_open), watermark + self.reopen
        found = analyze_range(self.store, start, end, source="scheduler")
        self.last = CycleReport(start, end, len(found), time.monotonic() - started)
        log.info("no new data for %.0fs: closed incidents open since %s", now - self._quiet_since,
                 start.isoformat())  # fmt: skip
        return self.last
