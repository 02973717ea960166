"""The ``cpu_saturation`` rule on hand-built frames: the serving process short of CPU by itself."""

from __future__ import annotations

import pandas as pd

from tailsight.analysis.attribution import rank_causes
from tests.analysis.test_series_evidence import _frames, _ts

COLUMNS = [
    "metric", "kind", "unit", "host", "switch", "interface", "direction", "hw_id", "pid",
    "pod", "namespace", "resource", "window", "value",
]  # fmt: skip


def _cpu(series: dict[str, list[float]], pressure: list[float], pod: str = "") -> pd.DataFrame:
    """``tailsight.process.cpu.utilization`` per pid on n2, and n2's CPU pressure, per window."""
    rows = []
    for pid, values in series.items():
        for i, v in enumerate(values):
            rows.append(
                ("tailsight.process.cpu.utilization", "gauge", "1", "n2", "", "", "", "", pid,
                 pod if pid == "1" else "", "ml" if pod and pid == "1" else "", "", _ts(10 * i), v)
            )  # fmt: skip
    for i, v in enumerate(pressure):
        rows.append(
            ("tailsight.host.pressure", "gauge", "1", "n2", "", "", "", "", "", "", "", "cpu",
             _ts(10 * i), v)
        )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


CALM, BUSY = [0.05] * 30, [0.85] * 10


def test_own_process_short_of_cpu_is_cpu_saturation() -> None:
    values = _cpu({"1": CALM + BUSY, "9": [0.02] * 40}, [0.01] * 30 + [0.5] * 10)
    inc, frames, phases = _frames(values)
    top = rank_causes(inc, frames, phases)[0]
    assert top.kind == "cpu_saturation"
    assert top.entity is not None and (top.entity.type, top.entity.id) == ("process", "n2/1")
    assert top.service == "svc" and top.score > 0.5
    assert [e.metric for e in top.evidence] == [
        "tailsight.process.cpu.utilization",
        "tailsight.host.pressure",
    ]


def test_a_pod_is_named_where_the_process_has_one() -> None:
    values = _cpu({"1": CALM + BUSY}, [0.01] * 30 + [0.5] * 10, pod="svc-7f9")
    inc, frames, phases = _frames(values)
    top = rank_causes(inc, frames, phases)[0]
    assert top.entity is not None and (top.entity.type, top.entity.id) == ("pod", "ml/svc-7f9")


def test_another_process_rising_is_the_neighbor_not_saturation() -> None:
    values = _cpu({"1": [0.05] * 40, "9": CALM + BUSY}, [0.01] * 30 + [0.5] * 10)
    inc, frames, phases = _frames(values)
    causes = rank_causes(inc, frames, phases)
    assert causes[0].kind == "noisy_neighbor" and causes[0].entity is not None
    assert causes[0].entity.id == "n2/9"
    assert all(c.kind != "cpu_saturation" for c in causes)


def test_own_cpu_rising_on_a_replica_that_stayed_fast_is_not_blamed() -> None:
    values = _cpu({"1": CALM + BUSY}, [0.01] * 30 + [0.5] * 10)
    inc, frames, phases = _frames(values, slow_host="n1")
    assert all(c.kind != "cpu_saturation" for c in rank_causes(inc, frames, phases))
