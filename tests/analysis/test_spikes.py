"""Spike detection on hand-built frames, and end to end through the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from tailsight.analysis.spikes import SpikeParams, detect_spikes

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


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
    p99 = [100.0] * 100 + [500.0] * 3
    (inc,) = detect_spikes(_frame(p99), T0, T0 + timedelta(seconds=1030))
    assert inc.end is None
