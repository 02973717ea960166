"""Trace-aware localisation on hand-built span frames: client/server gaps and call chains."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from tailsight.analysis.attribution import downstream_target, rank_causes
from tailsight.analysis.traces import deepest_downstream, wire_delay
from tests.analysis.test_series_evidence import _frames, _gpu_values

GAP_COLUMNS = ["callee", "pod", "replica", "phase", "calls", "wire_ms", "server_ms"]


def _gaps(rows: list[tuple[str, str, float, float, float, float]]) -> pd.DataFrame:
    """(callee, pod, wire before, wire during, server before, server during) per pod."""
    out = []
    for callee, pod, w0, w1, s0, s1 in rows:
        out.append((callee, pod, pod, "before", 200, w0, s0))
        out.append((callee, pod, pod, "during", 60, w1, s1))
    return pd.DataFrame(out, columns=GAP_COLUMNS)


REACH = frozenset({"n1/1", "n2/1"})


def test_a_client_server_gap_names_the_callee_pod() -> None:
    gaps = _gaps(
        [
            ("embedder", "inference/embedder-a", 0.2, 900.0, 20.0, 21.0),
            ("embedder", "inference/embedder-b", 0.2, 0.3, 20.0, 20.0),
        ]
    )
    (cand,) = wire_delay(gaps, added_ms=800.0, reach=REACH)
    assert (cand.kind, cand.entity_type, cand.entity_id) == (
        "network_congestion",
        "pod",
        "inference/embedder-a",
    )
    assert cand.service == "embedder" and cand.evidence[0].during == 900.0


def test_every_pod_slower_on_the_wire_names_the_service() -> None:
    gaps = _gaps(
        [
            ("embedder", "inference/embedder-a", 0.2, 900.0, 20.0, 21.0),
            ("embedder", "inference/embedder-b", 0.2, 850.0, 20.0, 20.0),
        ]
    )
    (cand,) = wire_delay(gaps, added_ms=800.0, reach=REACH)
    assert (cand.entity_type, cand.entity_id) == ("service", "embedder")


def test_time_in_the_callee_is_not_the_wire() -> None:
    # The callee itself got slower: its server span grew with the client span.
    gaps = _gaps([("embedder", "inference/embedder-a", 0.2, 900.0, 20.0, 900.0)])
    assert wire_delay(gaps, added_ms=800.0, reach=REACH) == []
    # A wire delay too small to explain the spike is not its cause.
    gaps = _gaps([("embedder", "inference/embedder-a", 0.2, 30.0, 20.0, 20.0)])
    assert wire_delay(gaps, added_ms=800.0, reach=REACH) == []
    assert wire_delay(gaps.iloc[:0], added_ms=800.0, reach=REACH) == []  # SERVER-only traces


def test_wire_delay_is_the_top_cause_when_no_counter_moved() -> None:
    inc, frames, phases = _frames(_gpu_values([0.02] * 40))
    frames = replace(
        frames, gaps=_gaps([("embedder", "inference/embedder-a", 0.2, 900.0, 20.0, 21.0)])
    )
    inc = replace(inc, p99_ms=1000.0, baseline_p99_ms=150.0)
    top = rank_causes(inc, frames, phases)[0]
    assert top.kind == "network_congestion" and top.service == "embedder"
    assert top.entity is not None and top.entity.id == "inference/embedder-a"


def _calls(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    """``downstream_latency`` rows: (callee, p99 before, p99 during)."""
    out = []
    for name, before, during in rows:
        out.append((name, "before", 100, before / 3, before))
        out.append((name, "during", 30, during / 3, during))
    return pd.DataFrame(out, columns=["downstream", "phase", "calls", "p50_ms", "p99_ms"])


def test_a_three_level_call_chain_names_the_deepest_slow_service() -> None:
    tree = {
        "gateway": _calls([("retriever", 200.0, 1200.0), ("embedder", 40.0, 42.0)]),
        "retriever": _calls([("vector-db", 150.0, 1100.0), ("cache", 2.0, 2.0)]),
        "vector-db": _calls([]),
    }

    def lookup(service: str) -> pd.DataFrame:
        return tree.get(service, _calls([]))

    assert deepest_downstream("gateway", 1000.0, lookup, downstream_target) == "vector-db"
    # The middle service itself slow (its callee is not): the chain stops there.
    tree["retriever"] = _calls([("vector-db", 150.0, 160.0)])
    assert deepest_downstream("gateway", 1000.0, lookup, downstream_target) == "retriever"
    # Nothing downstream holds the added latency: the spiking service is the place.
    assert deepest_downstream("gateway", 5000.0, lookup, downstream_target) is None
