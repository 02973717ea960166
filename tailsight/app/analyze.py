"""One analysis run over a time range: fetch frames, detect and attribute, replace the range's incidents.

The API's ``POST /api/v1/analyze``, the CLI's ``tailsight analyze`` and the scheduler
all run this function, so a manual run and the continuous one agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tailsight.analysis.spikes import SpikeParams, detect_spikes
from tailsight.model import Incident
from tailsight.storage.incidents import replace_incidents
from tailsight.storage.queries import service_latency_windows
from tailsight.storage.store import Store


def analyze_range(
    store: Store,
    start: datetime,
    end: datetime,
    params: SpikeParams | None = None,
    source: str = "analyze",
) -> list[Incident]:
    """Detect the incidents whose onset lies in ``[start, end)`` and store them in place of the old."""
    if end <= start:
        raise ValueError("the range is empty: 'to' must be after 'from'")
    params = params or SpikeParams()
    lookback = timedelta(seconds=params.bucket_s * params.baseline_windows)
    windows = service_latency_windows(store, start - lookback, end, params.bucket_s)
    incidents = [i.ranked() for i in detect_spikes(windows, start, end, params)]
    replace_incidents(store, start, end, incidents, source=source)
    return sorted(incidents, key=lambda i: i.start, reverse=True)
