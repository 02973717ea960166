"""Detection on narrow series: one replica of a large service, a thin service.

A fault that slows one replica of 120 moves under 1 % of the service's requests: the
service's p99 (``spikes``) never sees it. A thin service (a few requests a minute) never
has the requests the p99 rule needs. Both are judged here by *exceedances*: how many of
the series' requests lie above a reference latency of its service, against how many
usually do.

- Reference: per service, the rolling median over the preceding ``ref_windows`` windows of
  ``ref_bucket_s`` of the service's own p90 and p99 (pooled over replicas): it follows
  diurnal load, one replica barely moves it, and a median ignores a stray heavy tail.
- Count: per series and 10 s window, requests ``n`` and those above the reference ``k``,
  estimated from the series' quantile grid (``storage.queries_series``).
- Rate-adaptive evidence: the counts are summed over the last ``m`` windows, ``m`` the
  windows the series needs on average to hold the requests a clear slowdown needs to
  reach the bar (``-ln(bar) / clear_kl``: 1 window for a busy replica, up to
  ``max_span_windows`` for a thin one): a thin series is judged over longer windows, not
  ignored. Its onset is the first window of the slow stretch, not of the span.
- Null: the series' own share above the reference over the preceding ``baseline_windows``
  (anomalous windows left out, ``prior`` pseudo-requests at the nominal share so a new or
  restarted process starts from its service's share), at least the nominal share.
- Test: the Chernoff bound ``exp(-N KL(K/N || p0))`` on the binomial tail, an upper bound
  of the p-value (conservative for any ``N``), and an effect size of ``effect`` x ``p0``.

One false-alarm budget: ``false_alarms_per_day`` anomalous windows per service per day
is split evenly (Bonferroni) over every test of that service in a day: each series, each
reference level, each evidence span tried, each 10 s window. A service with 120 replicas gets a 120x stricter bar
per test than one with one, so more series do not mean more alarms.

A replica's spike becomes an incident of its service (``scope`` "replica", ``replica``
named); spikes of one service within ``merge_gap_s`` of each other (a replica restarting
under the same fault) are one incident. Pure: frames in, incidents out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from tailsight.model import Cause, Incident

GRID_LEVELS: tuple[float, ...] = (0.0, *(round(0.05 * i, 2) for i in range(1, 20)), 0.99, 1.0)
DAY_S = 86400.0


@dataclass(frozen=True)
class NarrowParams:
    """Tuning of exceedance detection (see the module docstring)."""

    bucket_s: int = 10
    ref_bucket_s: int = 300
    ref_windows: int = 12  # 1 h of 5-minute windows
    min_ref_windows: int = 3
    levels: tuple[float, ...] = (0.9, 0.99)
    false_alarms_per_day: float = 0.05  # per service, all its series and levels together
    # The evidence span holds on average the requests a clear slowdown needs to reach
    # the bar: -ln(bar) / clear_kl (a share of 0.8 slow where 0.1 is usual: KL 1.2).
    clear_kl: float = 1.0
    max_span_windows: int = 90  # 15 min of 10 s windows
    baseline_windows: int = 360  # 1 h
    prior: float = 20.0
    effect: float = 3.0
    max_gap: int = 6  # quiet windows allowed inside one incident
    thin_rate: float = 2.0  # requests per window under which a service is judged here too
    merge_gap_s: float = 300.0  # a restarted replica takes minutes to serve again


@dataclass(frozen=True)
class SeriesRun:
    """One anomalous run of one series."""

    service: str
    key: str  # "<host>/<pid>" for a replica, "" for the whole service
    start: datetime
    end: datetime | None
    p99_ms: float
    baseline_p99_ms: float
    requests: int
    share: float  # share of the evidence span's requests above the reference
    usual: float  # the share expected (null)


def reference(service_grid: pd.DataFrame, params: NarrowParams) -> pd.DataFrame:
    """Per service and ``ref_bucket_s`` window, the reference latencies at ``params.levels``.

    ``service_grid``: ``latency_grid_windows(by_replica=False)`` at ``ref_bucket_s``.
    Each window's reference is the median of the preceding windows' quantiles.
    """
    cols = [_grid_column(level) for level in params.levels]
    out = []
    for service, rows in service_grid.groupby("service", sort=True):
        rows = rows.sort_values("window")
        ref = (
            rows[cols]
            .shift(1)
            .rolling(params.ref_windows, min_periods=params.min_ref_windows)
            .median()
        )
        ref.columns = [f"ref{i}" for i in range(len(cols))]
        ref.insert(0, "window", rows["window"].to_numpy())
        ref.insert(0, "service", service)
        out.append(ref)
    if not out:
        return pd.DataFrame(columns=["service", "window", *(f"ref{i}" for i in range(len(cols)))])
    return pd.concat(out, ignore_index=True)


def _grid_column(level: float) -> str:
    return f"g{GRID_LEVELS.index(level)}"


def share_above(grid: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per row, the share of the requests above ``ref``, from the row's quantile grid.

    Linear between the grid's quantiles; 1 below its minimum, 0 at or above its maximum;
    NaN where ``ref`` or the row is unknown.
    """
    levels = np.asarray(GRID_LEVELS)
    below = (grid <= ref[:, None]).sum(axis=1)
    hi_i = np.clip(below, 1, len(levels) - 1)
    lo_i = hi_i - 1
    lo = np.take_along_axis(grid, lo_i[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(grid, hi_i[:, None], axis=1)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(hi > lo, (ref - lo) / (hi - lo), 1.0)
    cdf = levels[lo_i] + (levels[hi_i] - levels[lo_i]) * np.clip(frac, 0.0, 1.0)
    cdf = np.where(below == 0, 0.0, np.where(below >= len(levels), 1.0, cdf))
    out = 1.0 - cdf
    return np.where(np.isnan(ref) | np.isnan(grid[:, 0]), np.nan, out)


def log_tail(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ln of the Chernoff bound of P(X >= k), X ~ Binomial(n, p): -n KL(k/n || p); 0 when k/n <= p."""
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.clip(k / np.where(n > 0, n, 1.0), 1e-12, 1.0 - 1e-12)
        pp = np.clip(p, 1e-12, 1.0 - 1e-12)
        kl = q * np.log(q / pp) + (1.0 - q) * np.log((1.0 - q) / (1.0 - pp))
    return np.where((n > 0) & (q > pp), -n * kl, 0.0)


def bar(series: int, params: NarrowParams) -> float:
    """ln of the p-value one test must reach: the day's budget over the day's tests of a service."""
    tests = max(1, series) * len(params.levels) * len(SPAN_FACTORS) * DAY_S / params.bucket_s
    return math.log(params.false_alarms_per_day / tests)


def thin_services(service_windows: pd.DataFrame, params: NarrowParams) -> list[str]:
    """Services whose mean requests per window is under ``thin_rate`` (``spikes`` cannot judge them)."""
    if service_windows.empty:
        return []
    mean = service_windows.groupby("service")["requests"].mean()
    return sorted(str(s) for s, r in mean.items() if r < params.thin_rate)


def detect_narrow(
    grid: pd.DataFrame,
    refs: pd.DataFrame,
    start: datetime,
    end: datetime,
    params: NarrowParams | None = None,
) -> list[SeriesRun]:
    """Anomalous runs with onset in ``[start, end)`` of the series in ``grid``.

    ``grid``: ``latency_grid_windows`` rows at ``bucket_s`` (per replica, or per service
    with empty host and pid), reaching back ``baseline_windows`` before ``start``;
    ``refs``: :func:`reference`. The budget of a service is split over its series in ``grid``.
    Plain arrays per series, not pandas: a live cycle judges hundreds of replicas.
    """
    params = params or NarrowParams()
    out: list[SeriesRun] = []
    if grid.empty or refs.empty:
        return out
    secs = _seconds(grid["window"])
    requests = grid["requests"].to_numpy(dtype=float)
    quantiles = grid[[f"g{i}" for i in range(len(GRID_LEVELS))]].to_numpy(dtype=float)
    ref_cols = [f"ref{i}" for i in range(len(params.levels))]
    for service, ref in refs.groupby("service", sort=True):
        rows = np.flatnonzero((grid["service"] == service).to_numpy())
        if not len(rows):
            continue
        ref_secs = _seconds(ref["window"])
        ref_base = int(ref_secs.min())
        dense_ref = np.full(
            ((int(ref_secs.max()) - ref_base) // params.ref_bucket_s + 1, len(ref_cols)), np.nan
        )
        dense_ref[(ref_secs - ref_base) // params.ref_bucket_s] = ref[ref_cols].to_numpy(
            dtype=float
        )
        keys = grid.iloc[rows].groupby(["host", "pid"], sort=True).indices
        log_bar = bar(len(keys), params)
        for (host, pid), at in keys.items():
            idx = rows[at]
            t_first = int(secs[idx].min())
            pos = (secs[idx] - t_first) // params.bucket_s
            length = int(pos.max()) + 1
            n = np.zeros(length)
            n[pos] = requests[idx]
            g = np.full((length, len(GRID_LEVELS)), np.nan)
            g[pos] = quantiles[idx]
            coarse = (
                t_first + np.arange(length) * params.bucket_s - ref_base
            ) // params.ref_bucket_s
            inside = (coarse >= 0) & (coarse < len(dense_ref))
            r = np.full((length, len(ref_cols)), np.nan)
            r[inside] = dense_ref[coarse[inside]]
            series = _Series(str(service), f"{host}/{pid}" if host or pid else "", t_first, n, g, r)
            out.extend(_series_runs(series, start, end, log_bar, params))
    return out


def _seconds(windows: pd.Series) -> np.ndarray:
    """Unix seconds of a column of (UTC) window starts."""
    return (pd.DatetimeIndex(windows).as_unit("ns").asi8 // 1_000_000_000).astype(np.int64)


@dataclass(frozen=True)
class _Series:
    """One series on a dense 10 s time axis from ``t_first`` (unix s): windows without rows hold 0 requests."""

    service: str
    key: str
    t_first: int
    n: np.ndarray
    grid: np.ndarray  # per window, the GRID_LEVELS quantiles (NaN: no requests)
    refs: np.ndarray  # per window, the reference per level (NaN: none yet)


def _series_runs(
    series: _Series, start: datetime, end: datetime, log_bar: float, params: NarrowParams
) -> list[SeriesRun]:
    n = series.n
    rate = float(n.mean()) if len(n) else 0.0
    need = -log_bar / params.clear_kl
    span = int(np.clip(math.ceil(need / max(rate, 1e-6)), 1, params.max_span_windows))
    widest = max(_spans(span, params))
    anomalous = np.zeros(len(n), dtype=bool)
    usual_at = np.zeros(len(n))
    share_at = np.zeros(len(n))
    own_slow = np.zeros(len(n), dtype=bool)
    for li, level in enumerate(params.levels):
        r = series.refs[:, li]
        frac = share_above(series.grid, r)
        k = np.where(np.isnan(frac), 0.0, frac * n)
        nn = np.where(np.isnan(frac), 0.0, n)
        nominal = 1.0 - level
        found = np.zeros(len(n), dtype=bool)
        for _ in range(2):  # the second pass leaves anomalous windows out of the baseline
            keep = ~_cover(found, widest, max(params.max_gap, span))
            kb = _trailing(np.where(keep, k, 0.0), params.baseline_windows, lag=widest)
            nb = _trailing(np.where(keep, nn, 0.0), params.baseline_windows, lag=widest)
            usual = np.maximum(nominal, (kb + nominal * params.prior) / (nb + params.prior))
            found = np.zeros(len(n), dtype=bool)
            share = np.zeros(len(n))
            for m in _spans(span, params):
                ks, ns = _trailing(k, m), _trailing(nn, m)
                with np.errstate(invalid="ignore", divide="ignore"):
                    sh = np.where(ns > 0, ks / ns, 0.0)
                hit = (log_tail(ks, ns, usual) <= log_bar) & (sh >= params.effect * usual)
                share = np.where(hit & ~found, sh, share)
                found |= hit
            found &= ~np.isnan(r)
        with np.errstate(invalid="ignore", divide="ignore"):
            own = np.where(nn > 0, k / np.where(nn > 0, nn, 1.0), 0.0)
        # A window is slow on its own when most of its requests are over the bar (one
        # request over the p99 is the tail every series has): onset and end are read there.
        own_slow |= (own >= params.effect * usual) & (own >= 0.5)
        new = found & ~anomalous
        usual_at[new], share_at[new] = usual[new], share[new]
        anomalous |= found
    return _runs(series, anomalous, own_slow, usual_at, share_at, widest, start, end, params)


def _runs(
    series: _Series,
    anomalous: np.ndarray,
    own_slow: np.ndarray,
    usual: np.ndarray,
    share: np.ndarray,
    span: int,
    start: datetime,
    end: datetime,
    params: NarrowParams,
) -> list[SeriesRun]:
    out: list[SeriesRun] = []
    n = series.n
    p99 = series.grid[:, GRID_LEVELS.index(0.99)]
    ref99 = series.refs[:, len(params.levels) - 1]
    step = timedelta(seconds=params.bucket_s)

    def at(i: int) -> datetime:
        return datetime.fromtimestamp(series.t_first + i * params.bucket_s, UTC)

    hits = np.flatnonzero(anomalous)
    gap = max(params.max_gap, span)  # a thin series' evidence flickers over its long span
    i = 0
    while i < len(hits):
        j = i
        while j + 1 < len(hits) and hits[j + 1] - hits[j] <= gap + 1:
            j += 1
        first, last = int(hits[i]), int(hits[j])
        onset = first
        # The evidence span ends at the first anomalous window: the slow stretch began
        # at its first window whose own requests were slow, not where the span starts.
        lo = max(0, first - span + 1)
        while onset - 1 >= lo and (n[onset - 1] == 0 or own_slow[onset - 1]):
            onset -= 1
        while onset < first and n[onset] == 0:
            onset += 1
        t0 = at(onset)
        still_open = last == len(n) - 1 and at(last) + step >= end
        # The evidence of a thin series trails its last slow request by up to its span:
        # the spike ended with that request.
        slow = np.flatnonzero(own_slow[onset : last + 1] & (n[onset : last + 1] > 0))
        last = onset + int(slow[-1]) if len(slow) and not still_open else last
        if start <= t0 < end:
            worst = p99[onset : last + 1]
            out.append(
                SeriesRun(
                    service=series.service,
                    key=series.key,
                    start=t0,
                    end=None if still_open else at(last) + step,
                    p99_ms=float(np.nanmax(worst)) if np.isfinite(worst).any() else 0.0,
                    baseline_p99_ms=float(ref99[onset]) if np.isfinite(ref99[onset]) else 0.0,
                    requests=int(n[onset : last + 1].sum()),
                    share=float(share[first]),
                    usual=float(usual[first]),
                )
            )
        i = j + 1
    return out


def _spans(span: int, params: NarrowParams) -> list[int]:
    """The evidence spans tried: the series' own, and 2x and 4x it (within the maximum).

    A load balancer drains a slow replica: it then receives a fraction of its usual
    requests, and the span sized by its usual rate holds too few of them.
    """
    return sorted({min(span * f, params.max_span_windows) for f in SPAN_FACTORS})


SPAN_FACTORS = (1, 2, 4)


def _trailing(x: np.ndarray, length: int, lag: int = 0) -> np.ndarray:
    """Per index ``i``, the sum of ``x[i - lag - length + 1 .. i - lag]`` (what exists of it)."""
    c = np.concatenate(([0.0], np.cumsum(x)))
    idx = np.arange(len(x))
    hi = np.clip(idx - lag + 1, 0, len(x))
    lo = np.clip(idx - lag - length + 1, 0, len(x))
    return c[hi] - c[lo]


def _cover(flags: np.ndarray, span: int, gap: int) -> np.ndarray:
    """The windows of each run of ``flags`` (gaps up to ``gap``), from its evidence's start.

    What the baseline leaves out: a slow stretch whose evidence flickers under the bar
    between two anomalous windows must not teach the baseline that slow is usual.
    """
    out = np.zeros(len(flags), dtype=bool)
    hits = np.flatnonzero(flags)
    i = 0
    while i < len(hits):
        j = i
        while j + 1 < len(hits) and hits[j + 1] - hits[j] <= gap + 1:
            j += 1
        out[max(0, hits[i] - span + 1) : hits[j] + 1] = True
        i = j + 1
    return out


def to_incidents(runs: list[SeriesRun], params: NarrowParams | None = None) -> list[Incident]:
    """Incidents from runs: runs of one service within ``merge_gap_s`` of each other are one.

    One fault, one incident: a replica restarting under it (a new pid), the thin service's
    own series and its replica's, several replicas behind one slow host. The earliest
    run's replica is named (the first replica to spike, not its restarted successor).
    """
    params = params or NarrowParams()
    gap = timedelta(seconds=params.merge_gap_s)
    merged: list[SeriesRun] = []
    for run in sorted(runs, key=lambda r: (r.service, r.start)):
        prev = next(
            (
                m
                for m in reversed(merged)
                if m.service == run.service and (m.end is None or run.start <= m.end + gap)
            ),
            None,
        )
        if prev is None:
            merged.append(run)
            continue
        end = None if prev.end is None or run.end is None else max(prev.end, run.end)
        merged[merged.index(prev)] = replace(
            prev,
            key=prev.key or run.key,  # a replica named says more than the service
            end=end,
            p99_ms=max(prev.p99_ms, run.p99_ms),
            requests=prev.requests + run.requests,
        )
    return [_incident(r) for r in merged]


def _incident(run: SeriesRun) -> Incident:
    what = f"replica {run.key} of {run.service}" if run.key else run.service
    return Incident(
        service=run.service,
        start=run.start,
        end=run.end,
        p99_ms=run.p99_ms,
        baseline_p99_ms=run.baseline_p99_ms,
        request_count=run.requests,
        scope="replica" if run.key else "service",
        replica=run.key,
        causes=(
            Cause.unknown(
                run.service,
                f"{run.share:.0%} of the requests of {what} above its service's usual "
                f"tail (usually {run.usual:.0%}); no attribution has explained it yet",
            ),
        ),
    )
