"""Counter rates, evidence and attribution rules on hand-built frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tailsight.analysis.attribution import (
    IncidentFrames,
    blast_radius,
    downstream_target,
    rank_causes,
)
from tailsight.analysis.evidence import Phases, change
from tailsight.analysis.scoring import BlastRadius, score, sig
from tailsight.analysis.series import with_values
from tailsight.analysis.topology import build_topology
from tailsight.model import Incident

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _ts(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(seconds=seconds))


def _counter(
    values: list[float], times: list[float], kind: str = "sum", temporality: int = 2
) -> pd.DataFrame:
    """One point per 10 s window at the given second offsets."""
    return pd.DataFrame(
        {
            "metric": "m",
            "kind": kind,
            "unit": "{packet}",
            "host": "h",
            "switch": "",
            "interface": "eth0",
            "temporality": temporality,
            "window": [_ts(t - t % 10) for t in times],
            "first": values,
            "last": values,
            "first_time": [_ts(t) for t in times],
            "last_time": [_ts(t) for t in times],
            "total": values,
            "points": 1,
            "peak": values,
        }
    )


def test_cumulative_rate_and_reset_is_never_negative() -> None:
    out = with_values(_counter([0, 100, 200, 30, 130], [0, 10, 20, 30, 40]))
    rates = out["value"].to_numpy()
    assert np.isnan(rates[0])  # one point: no rate yet
    assert rates[1:].tolist() == [10.0, 10.0, 3.0, 10.0]  # the reset counts the 30 since it


def test_clock_gap_averages_over_the_real_elapsed_time() -> None:
    out = with_values(_counter([0, 100, 700], [0, 10, 70]))
    assert out["value"].tolist()[1:] == [10.0, 10.0]


def test_gap_beyond_limit_uses_the_window_alone() -> None:
    frame = _counter([0, 100, 5000], [0, 10, 1000])
    frame.loc[2, "first"], frame.loc[2, "first_time"] = 4900.0, _ts(995)
    out = with_values(frame)
    assert out["value"].iloc[2] == pytest.approx(20.0)


def test_delta_sums_add_up_over_the_window() -> None:
    out = with_values(_counter([50, -5, 100], [0, 10, 20], temporality=1))
    assert out["value"].tolist() == [5.0, 0.0, 10.0]


def test_gauge_is_the_mean_of_its_points() -> None:
    frame = _counter([1.0, 3.0], [0, 10], kind="gauge", temporality=0)
    frame["total"], frame["points"] = [3.0, 9.0], [3, 3]
    assert with_values(frame)["value"].tolist() == [1.0, 3.0]


def test_change_needs_data_on_both_sides() -> None:
    phases = Phases(onset=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=6))
    before_only = pd.Series([1.0] * 20, index=[_ts(10 * i) for i in range(20)])
    assert change(before_only, phases) is None
    assert change(pd.Series(dtype=float), phases) is None
    full = pd.Series([1.0] * 30 + [5.0] * 6, index=[_ts(10 * i) for i in range(36)])
    ch = change(full, phases)
    assert ch is not None and ch.baseline == 1.0 and ch.during == 5.0


def test_scores_are_bounded_and_fit_follows_blast_radius() -> None:
    assert sig(1.0) == 0.0 and sig(8.0) == pytest.approx(1.0) and sig(1e9) == 2.0
    blast = BlastRadius(frozenset({"a"}), frozenset({"a", "b", "c"}))
    assert blast.fit({"a"}) == 1.0
    assert blast.fit({"b"}) == 0.0
    assert 0 < blast.fit({"a", "b", "c"}) < blast.fit({"a"})
    assert 0.0 <= score(100.0, 1.0) <= 1.0


def test_downstream_target_takes_the_service_holding_the_added_latency() -> None:
    rows = pd.DataFrame(
        {
            "downstream": ["embedder", "embedder", "cache", "cache"],
            "phase": ["before", "during", "before", "during"],
            "calls": [100, 100, 100, 100],
            "p50_ms": [10.0, 300.0, 1.0, 1.0],
            "p99_ms": [40.0, 600.0, 2.0, 2.5],
        }
    )
    assert downstream_target(rows, added_ms=700.0) == "embedder"
    assert downstream_target(rows, added_ms=2000.0) is None
    assert downstream_target(rows.iloc[:0], added_ms=700.0) is None


def _replicas(slow_host: str) -> pd.DataFrame:
    rows = []
    for host in ("n1", "n2"):
        for i in range(40):
            slow = host == slow_host and i >= 30
            rows.append(("svc", host, "1", _ts(10 * i), 50, 500.0 if slow else 100.0))
    return pd.DataFrame(rows, columns=["service", "host", "pid", "window", "requests", "p99_ms"])


def _gpu_values(neighbor: list[float]) -> pd.DataFrame:
    rows = []
    for i, share in enumerate(neighbor):
        for pid, value in (("1", 0.7), ("9", share)):
            rows.append(
                (
                    "tailsight.gpu.process.utilization",
                    "gauge",
                    "1",
                    "n2",
                    "",
                    "",
                    "",
                    "G2",
                    pid,
                    "",
                    "",
                    "",
                    _ts(10 * i),
                    value,
                )
            )
    return pd.DataFrame(
        rows,
        columns=[
            "metric",
            "kind",
            "unit",
            "host",
            "switch",
            "interface",
            "direction",
            "hw_id",
            "pid",
            "pod",
            "namespace",
            "resource",
            "window",
            "value",
        ],
    )


def _frames(values: pd.DataFrame, slow_host: str = "n2") -> tuple[Incident, IncidentFrames, Phases]:
    replicas = _replicas(slow_host)
    procs = pd.DataFrame(
        [
            ("n1", "G1", "1", "", "", "srv"),
            ("n2", "G2", "1", "", "", "srv"),
            ("n2", "G2", "9", "", "", "x"),
        ],
        columns=["host", "hw_id", "pid", "pod", "namespace", "executable"],
    )
    links = pd.DataFrame(columns=["host", "interface", "switch", "port"])
    topo = build_topology("svc", replicas, procs, links)
    requests = pd.Series([100.0] * 40, index=[_ts(10 * i) for i in range(40)])
    phases = Phases(onset=T0 + timedelta(seconds=300), until=T0 + timedelta(seconds=400))
    inc = Incident("svc", phases.onset, None, 500.0, 100.0)
    return inc, IncidentFrames(topo, replicas, values, requests), phases


def test_gpu_neighbor_on_the_slow_replica_is_blamed() -> None:
    inc, frames, phases = _frames(_gpu_values([0.02] * 30 + [0.5] * 10))
    assert blast_radius(frames.replicas, "svc", phases).slow == {"n2/1"}
    top = rank_causes(inc, frames, phases)[0]
    assert top.kind == "noisy_neighbor" and top.entity is not None and top.entity.id == "n2/9"
    assert top.evidence[0].baseline == pytest.approx(0.02) and top.evidence[0].during == 0.5


def test_neighbor_on_a_replica_that_stayed_fast_is_not_blamed() -> None:
    inc, frames, phases = _frames(_gpu_values([0.02] * 30 + [0.5] * 10), slow_host="n1")
    assert all(c.kind != "noisy_neighbor" for c in rank_causes(inc, frames, phases))


def test_missing_series_give_unknown_not_an_error() -> None:
    inc, frames, phases = _frames(_gpu_values([]))
    (cause,) = rank_causes(inc, frames, phases)
    assert (
        cause.kind == "unknown" and cause.score == 0.0 and "1 of 2 replicas slow" in cause.summary
    )


def test_a_process_that_started_during_the_ramp_has_a_zero_baseline() -> None:
    from tailsight.analysis.evidence import change_or_new

    phases = Phases(onset=T0 + timedelta(minutes=20), until=T0 + timedelta(minutes=21))
    serving = [("1", _ts(10 * i), 0.3) for i in range(126)]
    intruder = [("9", _ts(10 * i), 0.7) for i in range(100, 126)]  # started 3 min before onset
    frame = pd.DataFrame(serving + intruder, columns=["pid", "window", "value"])
    ch = change_or_new(frame[frame["pid"] == "9"], frame, phases)
    assert ch is not None and ch.baseline == 0.0 and ch.during == pytest.approx(0.7)
    gap = frame[frame["window"] >= _ts(1200)]  # nothing collected before the onset
    assert change_or_new(gap[gap["pid"] == "9"], gap, phases) is None
