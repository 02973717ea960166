"""``load_surge`` only when the request rate, not the request mix, explains the rise."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from tailsight.analysis.attribution import IncidentFrames, rank_causes
from tailsight.analysis.evidence import Phases
from tailsight.model import Incident
from tests.analysis.test_series_evidence import _frames, _gpu_values, _ts


def _operations(
    counts: dict[str, tuple[int, int]], p99: dict[str, tuple[float, float]]
) -> pd.DataFrame:
    """Per operation, 30 windows before the onset and 10 during: (before, during) counts and p99."""
    rows = []
    for op, (n0, n1) in counts.items():
        for i in range(40):
            during = i >= 30
            rows.append((op, _ts(10 * i), n1 if during else n0, p99[op][1 if during else 0]))
    return pd.DataFrame(rows, columns=["operation", "window", "requests", "p99_ms"])


def _surge_frames(
    operations: pd.DataFrame, total: tuple[float, float]
) -> tuple[Incident, IncidentFrames, Phases]:
    inc, frames, phases = _frames(_gpu_values([0.02] * 40), slow_host="n2")
    requests = pd.Series([total[0]] * 30 + [total[1]] * 10, index=[_ts(10 * i) for i in range(40)])
    return inc, replace(frames, requests=requests, operations=operations), phases


def test_more_requests_slowing_every_operation_is_a_load_surge() -> None:
    ops = _operations(
        {"embed": (80, 160), "health": (20, 40)}, {"embed": (100, 400), "health": (5, 30)}
    )
    inc, frames, phases = _surge_frames(ops, (100.0, 200.0))
    assert rank_causes(inc, frames, phases)[0].kind == "load_surge"


def test_a_heavier_mix_with_each_operation_as_fast_is_not_a_load_surge() -> None:
    # The slow operation became common (its count tripled); each operation kept its latency.
    ops = _operations(
        {"generate": (10, 90), "health": (90, 40)}, {"generate": (900, 920), "health": (5, 5)}
    )
    inc, frames, phases = _surge_frames(ops, (100.0, 130.0))
    assert all(c.kind != "load_surge" for c in rank_causes(inc, frames, phases))


def test_one_operation_only_falls_back_to_the_rate() -> None:
    ops = _operations({"embed": (100, 200)}, {"embed": (100, 100)})
    inc, frames, phases = _surge_frames(ops, (100.0, 200.0))
    assert rank_causes(inc, frames, phases)[0].kind == "load_surge"
