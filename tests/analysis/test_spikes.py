"""Spike detection on hand-built frames, and end to end through the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from tailsight.analysis.spikes import SpikeParams, _thresholds, detect_spikes
from tests.timebase import recent_noon

# Relative to now: the store drops data older than its TTL (tests/timebase.py).
T0 = datetime.fromtimestamp(recent_noon(), UTC) - timedelta(hours=2)


def _frame(p99: list[float], requests: int = 100, service: str = "svc") -> pd.DataFrame:
    n = len(p99)
    return pd.DataFrame(
        {
            "service": [service] * n,
            "window": pd.to_datetime([T0 + timedelta(seconds=10 * i) for i in range(n)], utc=True),
            "requests": [requests] * n,
            "failures": [0] * n,
            "p50_ms": [x / 3 for x in p99],
            "p99_ms": p99,
        }
    )


def test_one_spike_found_with_onset_and_end() -> None:
    rng = np.random.default_rng(1)
    p99 = list(100 + rng.normal(0, 5, 200))
    p99[150:160] = [400.0] * 10
    found = detect_spikes(_frame(p99), T0, T0 + timedelta(hours=1))
    assert len(found) == 1
    inc = found[0]
    assert inc.start == T0 + timedelta(seconds=1500)
    assert inc.end == T0 + timedelta(seconds=1600)
    assert inc.p99_ms == 400.0 and 90 < inc.baseline_p99_ms < 110


def test_thin_traffic_pages_nobody() -> None:
    p99 = [100.0] * 100 + [900.0] * 5 + [100.0] * 20
    assert detect_spikes(_frame(p99, requests=5), T0, T0 + timedelta(hours=1)) == []


def test_no_baseline_no_incident() -> None:
    p99 = [100.0] * 10 + [900.0] * 5
    assert detect_spikes(_frame(p99), T0, T0 + timedelta(hours=1), SpikeParams()) == []


def test_spike_still_open_has_no_end() -> None:
    p99 = [100.0] * 100 + [500.0] * 6
    (inc,) = detect_spikes(_frame(p99), T0, T0 + timedelta(seconds=1060))
    assert inc.end is None


def test_a_blip_shorter_than_min_windows_pages_nobody() -> None:
    p99 = [100.0] * 100 + [900.0] * 3 + [100.0] * 20
    assert detect_spikes(_frame(p99), T0, T0 + timedelta(hours=1)) == []


def test_a_strong_young_spike_at_the_live_edge_is_reported_early() -> None:
    # One window at 5x: not yet min_windows, but strong and still going at the range's end.
    p99 = [100.0] * 100 + [500.0]
    (inc,) = detect_spikes(_frame(p99), T0, T0 + timedelta(seconds=1010))
    assert inc.start == T0 + timedelta(seconds=1000) and inc.end is None
    # The same window in history, followed by calm ones, is a blip: nothing.
    calm = p99 + [100.0] * 20
    assert detect_spikes(_frame(calm), T0, T0 + timedelta(hours=1)) == []
    # A clear but milder rise (3x) at the edge waits for min_windows ...
    mild = [100.0] * 100 + [300.0] * 2
    assert detect_spikes(_frame(mild), T0, T0 + timedelta(seconds=1020)) == []
    # ... and is an incident once it has lasted them.
    held = [100.0] * 100 + [300.0] * 5
    (inc,) = detect_spikes(_frame(held), T0, T0 + timedelta(seconds=1050))
    assert inc.start == T0 + timedelta(seconds=1000) and inc.end is None


def _smoothed(p99: list[float], p90: list[float], requests: int = 70) -> pd.DataFrame:
    """A frame as the store returns it: smoothed quantiles beside each window's own p99."""
    frame = _frame(p99, requests)
    frame["requests_smooth"] = 2 * requests
    frame["p99_smooth_ms"] = p99
    for level, col in ((0.9, "q90"), (0.95, "q95"), (0.97, "q97"), (0.98, "q98")):
        frame[f"{col}_smooth_ms"] = [
            lo + (hi - lo) * (level - 0.9) / 0.09 for lo, hi in zip(p90, p99, strict=True)
        ]
    return frame


def test_a_body_shift_at_the_live_edge_is_reported_after_two_windows() -> None:
    # Every request 2.2x slower in its body (p90 40 -> 90 ms) while the p99 rises only 1.5x,
    # under its own bar: the p99 rule would wait for min_windows, the body rule does not.
    rng = np.random.default_rng(5)
    p99 = list(100 + rng.normal(0, 5, 100))
    p90 = list(40 + rng.normal(0, 2, 100))
    one = _smoothed(p99 + [150.0], p90 + [90.0])
    assert detect_spikes(one, T0, T0 + timedelta(seconds=1010)) == []
    two = _smoothed(p99 + [150.0] * 2, p90 + [90.0] * 2)
    (inc,) = detect_spikes(two, T0, T0 + timedelta(seconds=1020))
    assert inc.start == T0 + timedelta(seconds=1000) and inc.end is None
    # A milder body shift (1.6x) at the edge waits for min_windows ...
    mild = _smoothed(p99 + [150.0] * 2, p90 + [64.0] * 2)
    assert detect_spikes(mild, T0, T0 + timedelta(seconds=1020)) == []
    # ... and the same two windows in history, followed by calm ones, are a blip.
    calm = _smoothed(p99 + [150.0] * 2 + p99[:20], p90 + [90.0] * 2 + p90[:20])
    assert detect_spikes(calm, T0, T0 + timedelta(hours=1)) == []


def test_an_earlier_spike_does_not_blunt_the_next() -> None:
    rng = np.random.default_rng(3)
    p99 = list(100 + rng.normal(0, 5, 400))
    p99[200:280] = [900.0] * 80  # a long incident fills 40 % of the next one's history
    p99[300:310] = [260.0] * 10
    found = detect_spikes(_frame(p99), T0, T0 + timedelta(hours=2))
    assert [i.start for i in found] == [T0 + timedelta(seconds=2000), T0 + timedelta(seconds=3000)]


def test_thresholds_equal_a_rolling_median_and_mad_with_gaps() -> None:
    # The reference: pandas' rolling median and a per-window MAD over the windows before each,
    # NaN (no data, or an anomalous window left out) skipped, NaN below min_baseline_windows.
    params = SpikeParams(baseline_windows=40, min_baseline_windows=10)
    rng = np.random.default_rng(7)
    for n in (0, 1, 9, 11, 40, 300):
        history = rng.lognormal(3.0, 0.6, n)
        history[rng.random(n) < 0.25] = np.nan
        rolling = pd.Series(history).shift(1).rolling(40, min_periods=10)
        base = rolling.median().to_numpy()
        mad = rolling.apply(
            lambda w: np.nanmedian(np.abs(w - np.nanmedian(w))), raw=True
        ).to_numpy()
        bar = np.maximum(base * params.ratio, base + params.k * 1.4826 * mad)
        got_base, got_bar = _thresholds(history, params)
        np.testing.assert_allclose(got_base, base, equal_nan=True)
        np.testing.assert_allclose(got_bar, bar, equal_nan=True)
