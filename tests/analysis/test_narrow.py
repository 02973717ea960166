"""Exceedance detection on narrow series (analysis.narrow), on hand-built frames.

Each frame is built from drawn request latencies the way the store would summarise them:
per series and 10 s window the requests and their quantile grid, per service and 5
minutes the pooled quantiles the reference is taken from. Latencies are heavy-tailed
(lognormal with rare Pareto stalls) under a diurnal load, as in the simulator.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from tailsight.analysis.narrow import (
    GRID_LEVELS,
    SPAN_FACTORS,
    NarrowParams,
    bar,
    detect_narrow,
    log_tail,
    reference,
    share_above,
    to_incidents,
)
from tests.timebase import recent_noon

T0 = datetime.fromtimestamp(recent_noon(), UTC) - timedelta(hours=2)
STEP = 10
GRID_COLS = [f"g{i}" for i in range(len(GRID_LEVELS))]


def _latencies(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    """Heavy-tailed request latencies (ms): lognormal body, a rare stalled request."""
    x = 40.0 * rng.lognormal(0.0, 0.4, n)
    stall = rng.random(n) < 0.004
    x[stall] *= 1 + rng.pareto(1.5, int(stall.sum()))
    return x * scale


def _row(service: str, host: str, pid: str, t: datetime, x: np.ndarray) -> tuple[object, ...]:
    grid = np.quantile(x, GRID_LEVELS) if len(x) else [np.nan] * len(GRID_LEVELS)
    return (service, host, pid, pd.Timestamp(t), len(x), *grid)


def _frames(
    series: dict[tuple[str, str], tuple[float, dict[int, float]]],
    windows: int,
    seed: int = 1,
    service: str = "svc",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(grid, reference) frames for ``series``: (host, pid) -> (requests per window, slow windows).

    The slow windows map a window index to a latency factor; the load follows a diurnal
    swing of +-30 % over the frame.
    """
    rng = np.random.default_rng(seed)
    rows = []
    pooled: dict[int, list[np.ndarray]] = {}
    for (host, pid), (rate, slow) in series.items():
        for w in range(windows):
            load = 1.0 + 0.3 * math.sin(2 * math.pi * w / (windows * 2))
            x = _latencies(rng, int(rng.poisson(rate * load)), slow.get(w, 1.0))
            if len(x):
                rows.append(_row(service, host, pid, T0 + timedelta(seconds=STEP * w), x))
            pooled.setdefault(w * STEP // 300, []).append(x)
    grid = pd.DataFrame(rows, columns=["service", "host", "pid", "window", "requests", *GRID_COLS])
    ref_rows = [
        _row(service, "", "", T0 + timedelta(seconds=300 * k), np.concatenate(xs))
        for k, xs in sorted(pooled.items())
    ]
    ref_grid = pd.DataFrame(
        ref_rows, columns=["service", "host", "pid", "window", "requests", *GRID_COLS]
    )
    return grid, reference(ref_grid, NarrowParams())


def _slow(start: int, stop: int, factor: float = 3.0) -> dict[int, float]:
    return {w: factor for w in range(start, stop)}


END = T0 + timedelta(hours=3)
START = T0 + timedelta(hours=1)  # the first hour is the baseline


def test_share_above_reads_the_grid() -> None:
    # A grid whose value is 100 x its level: 50 ms lies at level 0.5.
    grid = np.array([np.asarray(GRID_LEVELS) * 100.0])
    assert abs(share_above(grid, np.array([50.0]))[0] - 0.5) < 1e-9
    assert share_above(grid, np.array([-1.0]))[0] == 1.0
    assert share_above(grid, np.array([100.0]))[0] == 0.0
    assert np.isnan(share_above(grid, np.array([np.nan]))[0])


def test_chernoff_bound_is_exact_when_every_request_is_slow() -> None:
    got = log_tail(np.array([6.0]), np.array([6.0]), np.array([0.1]))[0]
    assert abs(got - 6 * math.log(0.1)) < 1e-9
    assert log_tail(np.array([1.0]), np.array([10.0]), np.array([0.1]))[0] == 0.0


def test_more_series_a_stricter_bar_one_budget() -> None:
    p = NarrowParams()
    one, many = bar(1, p), bar(120, p)
    assert abs((one - many) - math.log(120)) < 1e-9
    # The budget per day: every test at the bar, over a day, adds up to the budget.
    tests = 120 * len(p.levels) * len(SPAN_FACTORS) * 86400 / p.bucket_s
    assert abs(math.exp(many) * tests - p.false_alarms_per_day) < 1e-12


def test_one_replica_slowed_among_120_is_found_and_named() -> None:
    windows = 1080  # 3 h of 10 s windows
    fault = (700, 790)  # 15 min at 2.5x, starting 1 h 56 min 40 s in
    series = {
        (f"node-{i // 8:02d}", str(1000 + i)): (0.35, _slow(*fault, 2.5) if i == 57 else {})
        for i in range(120)
    }
    grid, refs = _frames(series, windows, seed=7)
    runs = detect_narrow(grid, refs, START, END)
    assert [r.key for r in runs] == ["node-07/1057"]
    onset = T0 + timedelta(seconds=STEP * fault[0])
    assert onset - timedelta(seconds=30) <= runs[0].start <= onset + timedelta(minutes=5)
    (inc,) = to_incidents(runs)
    assert inc.service == "svc" and inc.scope == "replica" and inc.replica == "node-07/1057"
    assert inc.to_json()["replica"] == "node-07/1057"


def test_fault_free_fleet_under_diurnal_load_and_heavy_tails_stays_quiet() -> None:
    series = {(f"node-{i // 8:02d}", str(1000 + i)): (0.35, {}) for i in range(120)}
    series[("node-99", "7")] = (12.0, {})  # one busy replica among the thin ones
    grid, refs = _frames(series, 1080, seed=11)
    assert detect_narrow(grid, refs, START, END) == []


def test_thin_series_is_judged_over_longer_windows_not_ignored() -> None:
    # One request per 10 s on average: the p99 rule needs 60 in three windows.
    fault = (700, 760)  # 10 minutes at 3x
    grid, refs = _frames({("", ""): (1.0, _slow(*fault))}, 1080, seed=3)
    runs = detect_narrow(grid, refs, START, END)
    assert len(runs) == 1 and runs[0].key == ""
    onset = T0 + timedelta(seconds=STEP * fault[0])
    assert onset - timedelta(seconds=30) <= runs[0].start <= onset + timedelta(minutes=3)
    (inc,) = to_incidents(runs)
    assert inc.scope == "service" and inc.replica == ""
    # The same thin series without the fault: nothing.
    quiet, refs = _frames({("", ""): (1.0, {})}, 1080, seed=3)
    assert detect_narrow(quiet, refs, START, END) == []


def test_replica_restarting_mid_incident_is_one_incident() -> None:
    # Process 1057 is slow from window 700, restarts at 765 as 2210 on the same host, and
    # the new process is slow too (the fault is the host's) until 810.
    series = {(f"node-{i // 8:02d}", str(1000 + i)): (0.35, {}) for i in range(120)}
    del series[("node-07", "1057")]
    grid, refs = _frames(series, 1080, seed=5)
    rng = np.random.default_rng(9)
    extra = []
    for w in range(0, 765):
        x = _latencies(rng, int(rng.poisson(0.35)), 3.0 if w >= 700 else 1.0)
        if len(x):
            extra.append(_row("svc", "node-07", "1057", T0 + timedelta(seconds=STEP * w), x))
    for w in range(766, 1080):
        x = _latencies(rng, int(rng.poisson(0.35)), 3.0 if w < 810 else 1.0)
        if len(x):
            extra.append(_row("svc", "node-07", "2210", T0 + timedelta(seconds=STEP * w), x))
    grid = pd.concat([grid, pd.DataFrame(extra, columns=grid.columns)], ignore_index=True)
    runs = detect_narrow(grid, refs, START, END)
    assert {r.key for r in runs} <= {"node-07/1057", "node-07/2210"}
    assert "node-07/1057" in {r.key for r in runs}
    incidents = to_incidents(runs)
    assert len(incidents) == 1
    (inc,) = incidents
    assert inc.replica == "node-07/1057"  # the replica that spiked first is named
    assert inc.end is not None and inc.end >= T0 + timedelta(seconds=STEP * 766)
