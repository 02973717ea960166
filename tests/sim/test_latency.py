"""Request latency: heavy-tailed and stable without faults; each fault raises only its services' p99.

Measured on the test fleet (seed 11, 40 sampled requests per service per 10 s, 12:00
UTC, 20 minutes): baseline p99/p50 is 3.7 (asr), 3.8 (llm-gateway), 4.3 (embedder) and
6.8 (reranker), p99.9/p99 1.7-2.2, and the p99 of consecutive 10-minute halves agree
within 0.98-1.29x. With a fault at intensity 0.8 (surge 1.0) the affected services' p99
rose 1.9x-19x (congestion: asr 3.0x, embedder 14x; CPU neighbor 1.9-2.6x; GPU
neighbor 9.8x; CPU-bound GPU 19x; surge 4.2x) while unaffected services stayed within
0.88-1.14x (callers, which see part of it through their traces, 1.1-1.5x).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tailsight.sim.faults import DISTRACTOR_KINDS, INCIDENT_KINDS, Fault, truth
from tailsight.sim.fleet import Fleet
from tests.sim.simdata import FAULT_AT, FAULT_S, START, Run, p99

Faulted = Callable[[str], tuple[Fault, Run]]
DURING = (FAULT_AT + 60, FAULT_AT + FAULT_S)
NOISE = (0.7, 1.4)  # p99 ratio band of an unaffected service between two runs


def test_baseline_latency_is_heavy_tailed_and_stable(baseline: Run) -> None:
    for service, samples in baseline.latencies.items():
        ms = np.array([v for _, v in samples])
        p50, p99_, p999 = np.percentile(ms, [50, 99, 99.9])
        assert 2.5 < p99_ / p50 < 12, f"{service}: p99/p50 = {p99_ / p50:.1f}"
        assert p999 / p99_ > 1.3, f"{service}: no far tail ({p999 / p99_:.2f})"
        first = p99(baseline, service, START, START + 600)
        second = p99(baseline, service, START + 600, START + 1200)
        assert NOISE[0] < second / first < NOISE[1], f"{service}: p99 drifts {second / first:.2f}"


@pytest.mark.parametrize("kind", INCIDENT_KINDS)
def test_fault_raises_p99_of_affected_services_only(
    kind: str, fleet: Fleet, baseline: Run, faulted: Faulted
) -> None:
    fault, run = faulted(kind)
    info = truth(fault, fleet)
    affected = set(info["affected_services"])
    # Callers see some of it through their traces; callees of a surging service get more load.
    related = set(info["upstream_services"])
    if kind == "load_surge":
        related |= set(fleet.profiles[fault.target].calls)
    assert affected
    for service in sorted(baseline.latencies):
        ratio = p99(run, service, *DURING) / p99(baseline, service, *DURING)
        if service in affected:
            assert ratio > 1.8, f"{kind}: {service} p99 rose only {ratio:.2f}x"
        elif service not in related:
            assert NOISE[0] < ratio < NOISE[1], f"{kind}: unaffected {service} moved {ratio:.2f}x"


@pytest.mark.parametrize("kind", DISTRACTOR_KINDS)
def test_distractors_leave_every_latency_unchanged(
    kind: str, baseline: Run, faulted: Faulted
) -> None:
    _, run = faulted(kind)
    for service in baseline.latencies:
        assert p99(run, service, *DURING) == pytest.approx(p99(baseline, service, *DURING))
