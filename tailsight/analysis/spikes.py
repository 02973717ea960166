"""Spike detection: a service's short-window p99 against its own robust baseline.

The baseline of each window is the median of the service's p99 over the preceding
``baseline_windows`` windows, with the median absolute deviation (MAD) as its scale, so
one earlier spike does not drag the baseline up. A window is anomalous when its p99
exceeds both ``ratio`` x baseline and baseline + ``k`` x 1.4826 x MAD, and it has at
least ``min_requests`` requests so thin traffic pages nobody. Consecutive anomalous
windows, allowing ``max_gap`` quiet ones between them, form one incident when at least
``min_windows`` of them are anomalous; its onset is the first anomalous window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from tailsight.model import Cause, Incident


@dataclass(frozen=True)
class SpikeParams:
    """Tuning of spike detection."""

    bucket_s: int = 10
    baseline_windows: int = 180  # 30 min of 10 s windows
    min_baseline_windows: int = 30
    ratio: float = 1.8
    k: float = 4.5
    min_requests: int = 20
    max_gap: int = 3
    # Anomalous windows an incident needs: one window's p99 from a few dozen sampled
    # requests is noisy, a shift that persists is not.
    min_windows: int = 5
    passes: int = 3


def detect_spikes(
    windows: pd.DataFrame, start: datetime, end: datetime, params: SpikeParams | None = None
) -> list[Incident]:
    """Incidents whose onset lies in ``[start, end)`` from ``service_latency_windows`` frames.

    ``windows`` should reach back before ``start`` far enough for the baseline.
    """
    params = params or SpikeParams()
    incidents: list[Incident] = []
    for service, frame in windows.groupby("service", sort=True):
        incidents.extend(_service_spikes(str(service), frame, start, end, params))
    return incidents


def _service_spikes(
    service: str, frame: pd.DataFrame, start: datetime, end: datetime, params: SpikeParams
) -> list[Incident]:
    frame = frame.sort_values("window")
    p99 = frame["p99_ms"].to_numpy(dtype=float)
    requests = frame["requests"].to_numpy(dtype=float)
    smooth = "p99_smooth_ms" in frame.columns
    stat = frame["p99_smooth_ms"].to_numpy(dtype=float) if smooth else p99
    stat_requests = frame["requests_smooth"].to_numpy(dtype=float) if smooth else requests
    min_requests = params.min_requests * (3 if smooth else 1)
    times = list(frame["window"])
    enough = stat_requests >= min_requests
    trusted = np.where(enough, stat, np.nan)
    anomalous = np.zeros(len(stat), dtype=bool)
    for _ in range(params.passes):
        # Windows found anomalous leave the history of the next pass, so an earlier
        # spike inflates neither the baseline nor its spread.
        history = pd.Series(np.where(anomalous, np.nan, trusted)).shift(1)
        rolling = history.rolling(params.baseline_windows, min_periods=params.min_baseline_windows)
        baseline = rolling.median().to_numpy()
        mad = rolling.apply(_mad, raw=True).to_numpy()
        threshold = np.maximum(baseline * params.ratio, baseline + params.k * 1.4826 * mad)
        found = enough & (stat > threshold) & ~np.isnan(baseline)
        if np.array_equal(found, anomalous):
            break
        anomalous = found

    out: list[Incident] = []
    i, n = 0, len(p99)
    step = timedelta(seconds=params.bucket_s)
    while i < n:
        if not anomalous[i]:
            i += 1
            continue
        first = last = i
        j = i + 1
        while j < n and j - last <= params.max_gap + 1:
            if anomalous[j]:
                last = j
            j += 1
        onset = times[first].to_pydatetime()
        persistent = int(anomalous[first : last + 1].sum()) >= params.min_windows
        if persistent and start <= onset < end:
            still_open = last == n - 1 and times[last].to_pydatetime() + step >= end
            out.append(
                Incident(
                    service=service,
                    start=onset,
                    end=None if still_open else times[last].to_pydatetime() + step,
                    p99_ms=float(np.nanmax(p99[first : last + 1])),
                    baseline_p99_ms=float(baseline[first]),
                    request_count=int(requests[first : last + 1].sum()),
                    causes=(
                        Cause(
                            kind="unknown",
                            score=0.0,
                            service=service,
                            entity=None,
                            summary="no attribution has explained this spike yet",
                        ),
                    ),
                )
            )
        i = last + 1
    return out


def _mad(window: np.ndarray) -> float:
    return float(np.nanmedian(np.abs(window - np.nanmedian(window))))
