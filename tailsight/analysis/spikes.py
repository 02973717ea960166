"""Spike detection: a service's short-window p99 against its own robust baseline.

The baseline of each window is the median of the service's p99 over the preceding
``baseline_windows`` windows, with the median absolute deviation (MAD) as its scale, so
one earlier spike does not drag the baseline up. A window is anomalous when its p99
exceeds both ``ratio`` x baseline and baseline + ``k`` x 1.4826 x MAD, and it has at
least ``min_requests`` requests so thin traffic pages nobody. Consecutive anomalous
windows, allowing ``max_gap`` quiet ones between them, form one incident when at least
``min_windows`` of them are anomalous; its onset is the first anomalous window. At the
live edge (a run still going at the end of the range) ``fast_windows`` windows whose own
p99 is ``fast_ratio`` x the baseline are enough, or ``fast_body_windows`` windows whose
p90 is ``fast_body_ratio`` x its own baseline (a slowdown of every request, which lifts
the p90 of a few dozen requests steadily while their p99 only flickers): a strong spike is
reported while it is young, which is what lets an alert page within seconds of it. One window at 4x: on a
fault-free simulated day whose own-window p99 exceeded 4x its baseline 20-50 times per
service (heavy tails), none of those windows was also anomalous by the smoothed, supported
rule, while two windows at 3x opened one incident (``bench/alert_quiet_day.py`` slides
the live edge over every window of the day to count these).

Heavy tails: with a few dozen requests in three windows the p99 is close to their
maximum, so one stalled request would lift three windows at once. Where the frame
carries lower quantiles of the smoothed windows (``q90_smooth_ms`` ...), a window is
anomalous only when at least ``support`` of its requests exceed the threshold: the
highest quantile level ``q`` with ``(1 - q) * requests >= support`` must exceed it too.

Thin services are judged over longer windows, not ignored (:func:`detect_multiscale`):
the same rules run on coarser frames (``SpikeParams.scales``), where a coarse window
counts only when the finer scales lacked the requests to judge it, so one spike is
never reported twice and more scales do not mean more alarms.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

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
    # At the live edge a spike this strong pages sooner: ``fast_windows`` anomalous windows
    # whose own p99 is ``fast_ratio`` x the baseline open an incident before ``min_windows``
    # (the alert is only as fast as the detector). History keeps needing ``min_windows``.
    fast_windows: int = 1
    fast_ratio: float = 4.0
    # ... or ``fast_body_windows`` anomalous windows whose body (p90) is ``fast_body_ratio``
    # x its baseline: a slowdown of every request (a CPU neighbor, a congested port) moves
    # the p90 of a few dozen requests steadily long before their p99 reaches 4x.
    fast_body_windows: int = 2
    fast_body_ratio: float = 2.0
    passes: int = 3
    support: float = 3.0  # requests above the threshold a window needs (heavy tails)
    scales: tuple[int, ...] = (10, 120)  # window lengths tried, finest first
    refine_onset: bool = False  # onset at the first window whose own p99 is anomalous


# Quantile levels of the smoothed windows that the support rule picks from.
# (``storage.queries.service_latency_windows`` names them ``q90_smooth_ms`` ...; the
# 0.99 one is ``p99_smooth_ms``.)
SUPPORT_LEVELS = (0.9, 0.95, 0.97, 0.98)


def support_column(level: float) -> str:
    """The frame column holding the smoothed window's quantile at ``level``."""
    return f"q{round(level * 100)}_smooth_ms"


def scale_params(params: SpikeParams, bucket_s: int) -> SpikeParams:
    """``params`` for windows of ``bucket_s``: the base ones at the finest scale.

    Coarser windows keep a baseline of at least an hour and 60 windows (a median of
    fewer is not robust), need fewer anomalous windows (three 2-minute windows are 6
    minutes of evidence) and allow a shorter gap; their onset is refined to the first
    window whose own p99 is anomalous, so smoothing does not pull it a window early.
    """
    if bucket_s == params.bucket_s:
        return params
    return replace(
        params,
        bucket_s=bucket_s,
        baseline_windows=max(60, 3600 // bucket_s),
        min_baseline_windows=15,
        min_windows=3,
        max_gap=1,
        refine_onset=True,
    )


def lookback(params: SpikeParams, bucket_s: int) -> timedelta:
    """How far before a range the frame of ``bucket_s`` windows must reach for its baseline."""
    p = scale_params(params, bucket_s)
    return timedelta(seconds=p.bucket_s * p.baseline_windows)


def detect_multiscale(
    frames: Mapping[int, pd.DataFrame],
    start: datetime,
    end: datetime,
    params: SpikeParams | None = None,
) -> list[tuple[int, Incident]]:
    """Incidents from frames of several window lengths (``bucket_s`` -> frame), with their scale.

    A coarse window is judged only where no finer scale had the requests to judge most
    of its fine windows: the finest scale that can see a spike reports it.
    """
    params = params or SpikeParams()
    out: list[tuple[int, Incident]] = []
    judged: list[pd.DataFrame] = []  # (service, window, bucket_s) the finer scales could judge
    for bucket in sorted(frames):
        p = scale_params(params, bucket)
        frame = frames[bucket]
        skip = _judged_by_finer(judged, frame, bucket)
        finest = frames[min(frames)]
        out.extend(
            (bucket, _finer_onset(inc, finest, bucket, p) if bucket > min(frames) else inc)
            for inc in detect_spikes(frame, start, end, p, skip)
        )
        judged.append(_judged(frame, p))
    return out


def _finer_onset(
    incident: Incident, finest: pd.DataFrame, bucket_s: int, params: SpikeParams
) -> Incident:
    """``incident`` found on long windows, its onset moved to the first slow fine window.

    A long window starts up to ``bucket_s`` before the fault does; the first fine window
    inside it whose own p99 (a few requests) is over the threshold is when it began.
    """
    if finest.empty:
        return incident
    lo = pd.Timestamp(incident.start)
    rows = finest[
        (finest["service"] == incident.service)
        & (finest["window"] >= lo)
        & (finest["window"] < lo + pd.Timedelta(seconds=bucket_s))
    ]
    slow = rows[rows["p99_ms"] > incident.baseline_p99_ms * params.ratio]
    if slow.empty:
        return incident
    return replace(incident, start=slow["window"].min().to_pydatetime())


def _judged(frame: pd.DataFrame, params: SpikeParams) -> pd.DataFrame:
    """The (service, window) rows of ``frame`` with enough requests to be judged."""
    if frame.empty:
        return frame[["service", "window"]]
    smooth = "requests_smooth" in frame.columns
    counts = frame["requests_smooth" if smooth else "requests"].to_numpy(dtype=float)
    enough = counts >= params.min_requests * (3 if smooth else 1)
    out = frame.loc[enough, ["service", "window"]].copy()
    out["bucket_s"] = params.bucket_s
    return out


def _judged_by_finer(
    judged: list[pd.DataFrame], frame: pd.DataFrame, bucket_s: int
) -> Mapping[str, set[pd.Timestamp]]:
    """Per service, the windows of ``frame`` of which finer scales judged at least half."""
    out: dict[str, set[pd.Timestamp]] = {}
    for fine in judged:
        if fine.empty:
            continue
        share = float(fine["bucket_s"].iloc[0]) / bucket_s
        coarse = fine["window"].dt.floor(f"{bucket_s}s")
        counts = (
            pd.DataFrame({"service": fine["service"], "window": coarse})
            .groupby(["service", "window"])
            .size()
        )
        for (service, window), n in counts.items():
            if n * share >= 0.5:
                out.setdefault(str(service), set()).add(window)
    return out


def detect_spikes(
    windows: pd.DataFrame,
    start: datetime,
    end: datetime,
    params: SpikeParams | None = None,
    skip: Mapping[str, set[pd.Timestamp]] | None = None,
) -> list[Incident]:
    """Incidents whose onset lies in ``[start, end)`` from ``service_latency_windows`` frames.

    ``windows`` should reach back before ``start`` far enough for the baseline;
    ``skip`` names, per service, windows not to judge (a finer scale judged them).
    """
    params = params or SpikeParams()
    incidents: list[Incident] = []
    for service, frame in windows.groupby("service", sort=True):
        blocked = (skip or {}).get(str(service), set())
        incidents.extend(_service_spikes(str(service), frame, start, end, params, blocked))
    return incidents


def _supported(frame: pd.DataFrame, counts: np.ndarray, support: float) -> np.ndarray | None:
    """Per window, the highest smoothed quantile that ``support`` requests lie above (NaN: none)."""
    columns = [support_column(q) for q in SUPPORT_LEVELS]
    if not all(c in frame.columns for c in columns):
        return None
    values = frame[[*columns, "p99_smooth_ms"]].to_numpy(dtype=float)
    out = np.full(len(frame), np.nan)
    for i, level in enumerate((*SUPPORT_LEVELS, 0.99)):
        ok = (1.0 - level) * counts >= support
        out = np.where(ok, values[:, i], out)
    return out


def _service_spikes(
    service: str,
    frame: pd.DataFrame,
    start: datetime,
    end: datetime,
    params: SpikeParams,
    blocked: set[pd.Timestamp] | None = None,
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
    judge = enough
    if blocked:
        judge = enough & ~frame["window"].isin(blocked).to_numpy()
    tail = _supported(frame, stat_requests, params.support) if smooth else None
    body_col = support_column(SUPPORT_LEVELS[0])
    body = frame[body_col].to_numpy(dtype=float) if body_col in frame.columns else None
    anomalous = np.zeros(len(stat), dtype=bool)
    base90: np.ndarray | None = None
    converged = False
    for _ in range(params.passes):
        # Windows found anomalous leave the history of the next pass, so an earlier
        # spike inflates neither the baseline nor its spread.
        baseline, threshold = _thresholds(np.where(anomalous, np.nan, trusted), params)
        found = judge & (stat > threshold) & ~np.isnan(baseline)
        if tail is not None:
            found &= tail > threshold
        if body is not None:
            # A slowdown of part of the replicas moves the body (p90) of the latency
            # steadily while the p99 of a few hundred requests only flickers over its bar.
            base90, bar90 = _thresholds(np.where(anomalous | ~enough, np.nan, body), params)
            # The p99 must still rise a third of the way to its bar: a service whose
            # latency is a mix of two modes sees its p90 jump between them without one.
            risen = stat > baseline * (1.0 + (params.ratio - 1.0) / 3.0)
            found |= judge & (body > bar90) & risen & ~np.isnan(base90)
        if np.array_equal(found, anomalous):
            converged = True
            break
        anomalous = found
    shifted = np.zeros(len(stat), dtype=bool)
    if body is not None:
        if base90 is None or not converged:
            # The last pass's body baseline left out the windows of the pass before.
            base90, _ = _thresholds(np.where(anomalous | ~enough, np.nan, body), params)
        shifted = anomalous & (body > params.fast_body_ratio * base90)

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
        still_open = last == n - 1 and times[last].to_pydatetime() + step >= end
        run = slice(first, last + 1)
        strong = anomalous[run] & (p99[run] > params.fast_ratio * baseline[run])
        persistent = int(anomalous[run].sum()) >= params.min_windows or (
            still_open
            and (
                int(strong.sum()) >= params.fast_windows
                or int(shifted[run].sum()) >= params.fast_body_windows
            )
        )
        if params.refine_onset and not p99[first] > threshold[first]:
            own = [k for k in range(first, last + 1) if anomalous[k] and p99[k] > threshold[k]]
            first = own[0] if own else first
        onset = times[first].to_pydatetime()
        if persistent and start <= onset < end:
            out.append(
                Incident(
                    service=service,
                    start=onset,
                    end=None if still_open else times[last].to_pydatetime() + step,
                    p99_ms=float(np.nanmax(p99[first : last + 1])),
                    baseline_p99_ms=float(baseline[first]),
                    request_count=int(requests[first : last + 1].sum()),
                    causes=(Cause.unknown(service, "no attribution has explained this spike yet"),),
                )
            )
        i = last + 1
    return out


def _thresholds(history: np.ndarray, params: SpikeParams) -> tuple[np.ndarray, np.ndarray]:
    """Per window, the median of the ``baseline_windows`` windows before it (NaN ones left
    out; NaN with fewer than ``min_baseline_windows``) and the bar above it: ``ratio`` x the
    median, or ``k`` scaled MADs above it if that is higher.

    Vectorised over a sliding view of the history, a block of rows at a time (memory stays
    bounded on a week of 10 s windows): a rolling ``apply`` calling Python per window cost
    4x as much, most of a live cycle on a fleet of 130 replicas.
    """
    w = params.baseline_windows
    shifted = np.concatenate((np.full(w, np.nan), history[:-1]))
    baseline = np.full(len(history), np.nan)
    mad = np.full(len(history), np.nan)
    for lo in range(0, len(history), _BLOCK):
        view = sliding_window_view(shifted[lo : lo + _BLOCK + w - 1], w)
        enough = np.count_nonzero(~np.isnan(view), axis=1) >= params.min_baseline_windows
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN, as wanted
            med = np.nanmedian(view, axis=1)
            spread = np.nanmedian(np.abs(view - med[:, None]), axis=1)
        baseline[lo : lo + len(med)] = np.where(enough, med, np.nan)
        mad[lo : lo + len(med)] = np.where(enough, spread, np.nan)
    return baseline, np.maximum(baseline * params.ratio, baseline + params.k * 1.4826 * mad)


_BLOCK = 8192  # rows of the sliding view per step of _thresholds
