"""LLM latency SLIs in analysis, on hand-built frames: what output length explains, and queueing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tailsight.analysis.evidence import Phases
from tailsight.analysis.llm import (
    detect_llm,
    explained_by_length,
    queue_saturation,
    reconcile,
    sli_frame,
)
from tailsight.analysis.topology import Replica, Topology
from tailsight.model import Incident

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ONSET = T0 + timedelta(minutes=40)
PHASES = Phases(onset=ONSET, until=ONSET + timedelta(minutes=5))


def frame(
    *,
    tokens: float = 1.0,
    ttft: float = 1.0,
    tpot: float = 1.0,
    queue: float = 1.0,
    rate: float = 1.0,
    minutes: int = 50,
) -> pd.DataFrame:
    """``llm_latency_windows`` rows of one service and model; from ONSET on scaled as given."""
    rows = []
    for i in range(minutes * 6):
        w = T0 + timedelta(seconds=10 * i)
        on = w >= ONSET
        wobble = 1.0 + 0.05 * ((i * 7) % 5 - 2)
        n = round(60 * (rate if on else 1.0))
        t = 400.0 * wobble * (ttft if on else 1.0)
        p = 20.0 * wobble * (tpot if on else 1.0)
        row = {
            "service": "llm",
            "model": "m1",
            "window": pd.Timestamp(w),
            "requests": n,
            "requests_smooth": 3 * n,
            "input_tokens": 900 * n,
            "output_tokens": round(24 * n * (tokens if on else 1.0)),
            "queue_p99_ms": 50.0 * wobble * (queue if on else 1.0),
            "ttft_p99_ms": t,
            "ttft_p99_smooth_ms": t,
            "tpot_p99_ms": p,
            "tpot_p99_smooth_ms": p,
        }
        for q in (90, 95, 97, 98):
            row[f"ttft_q{q}_smooth_ms"] = t * 0.9
            row[f"tpot_q{q}_smooth_ms"] = p * 0.9
        rows.append(row)
    return pd.DataFrame(rows)


def spike(service: str = "llm", sli: str = "") -> Incident:
    return Incident(service, ONSET, ONSET + timedelta(minutes=8), 5000.0, 2500.0, sli=sli)


def test_longer_outputs_with_steady_ttft_and_tpot_explain_a_duration_spike() -> None:
    why = explained_by_length(spike(), frame(tokens=2.0), PHASES)
    assert why is not None and "output tokens per request rose 2.0x" in why


@pytest.mark.parametrize(
    "shape",
    [
        {"tokens": 1.0},  # no change of length: something else made requests slower
        {"tokens": 2.0, "ttft": 3.0},  # longer, and the first token came late too
        {"tokens": 2.0, "tpot": 2.0},  # longer, and each token slower
    ],
)
def test_length_does_not_explain_a_spike_of_ttft_tpot_or_of_same_length(
    shape: dict[str, float],
) -> None:
    assert explained_by_length(spike(), frame(**shape), PHASES) is None


def test_a_service_without_llm_spans_is_judged_on_duration_alone() -> None:
    other = spike("embedder")
    kept, dropped = reconcile(
        [(10, other)], [], frame(tokens=2.0), lambda i, b: PHASES, ONSET + timedelta(hours=1)
    )
    assert kept == [(10, other)] and dropped == []


def test_a_duration_spike_overlapping_a_ttft_spike_is_reported_once_on_ttft() -> None:
    ttft = Incident(
        "llm", ONSET + timedelta(seconds=20), None, 4000.0, 400.0, sli="ttft", model="m1"
    )
    kept, dropped = reconcile(
        [(10, spike())], [(10, ttft)], frame(), lambda i, b: PHASES, ONSET + timedelta(hours=1)
    )
    assert kept == [(10, ttft)]
    assert dropped[0][1] == "reported on ttft of m1"
    assert ttft.id != spike().id and ttft.to_json()["sli"] == "ttft"
    assert ttft.measure == "time to first token of m1" and spike().measure == "latency"


def test_ttft_spikes_are_detected_per_model_and_tpot_stays_quiet() -> None:
    rows = frame(ttft=6.0)
    other = frame()
    other["model"] = "m2"
    found = detect_llm(
        {10: pd.concat([rows, other])}, T0 + timedelta(minutes=35), T0 + timedelta(minutes=50)
    )
    assert [(i.sli, i.model) for _, i in found] == [("ttft", "m1")]
    assert found[0][1].start == ONSET


def test_sli_frame_names_the_columns_detection_reads() -> None:
    out = sli_frame(frame(), "tpot")
    assert {"service", "window", "requests", "p99_ms", "p99_smooth_ms", "q90_smooth_ms"} <= set(
        out.columns
    )
    with pytest.raises(ValueError, match="unknown LLM SLI 'e2e'"):
        sli_frame(frame(), "e2e")


TOPO = Topology("llm", (Replica("n1", "101"), Replica("n2", "102")), {}, {}, ())


def test_queueing_at_a_steady_rate_is_the_service_saturated_by_its_own_load() -> None:
    found = queue_saturation(TOPO, frame(ttft=8.0, queue=50.0), PHASES)
    assert len(found) == 1
    c = found[0]
    assert (c.kind, c.entity_type, c.entity_id) == ("load_surge", "service", "llm")
    assert c.strength > 1.0
    assert c.evidence[0].metric == "gen_ai.latency.time_in_queue"


@pytest.mark.parametrize(
    "shape",
    [
        {"ttft": 8.0, "queue": 1.0},  # TTFT rose without queueing: not this cause
        {"ttft": 8.0, "queue": 50.0, "rate": 2.0},  # more requests: load.load_surge's to say
    ],
)
def test_no_queue_cause_without_queueing_or_with_a_rate_rise(shape: dict[str, float]) -> None:
    assert queue_saturation(TOPO, frame(**shape), PHASES) == []


def test_a_tpot_spike_during_a_ttft_spike_is_the_same_slowdown() -> None:
    ttft = Incident("llm", ONSET, ONSET + timedelta(minutes=9), 4e3, 400.0, sli="ttft", model="m1")
    tpot = replace(ttft, start=ONSET + timedelta(seconds=30), sli="tpot")
    later = replace(tpot, start=ONSET + timedelta(hours=2))
    kept, dropped = reconcile(
        [],
        [(10, tpot), (10, ttft), (10, later)],
        frame(),
        lambda i, b: PHASES,
        ONSET + timedelta(hours=3),
    )
    assert [i for _, i in kept] == [ttft, later]
    assert dropped == [(tpot, "reported on ttft of m1")]
