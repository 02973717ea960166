"""Fixtures of the sim tests: the test fleet, a baseline run, and one run per fault kind (cached)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from tailsight.sim.faults import Fault, random_fault
from tailsight.sim.fleet import Fleet, build_fleet
from tests.sim.simdata import FAULT_AT, FAULT_S, SEED, SPEC, Run, run_scenario


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return build_fleet(SPEC, SEED)


@pytest.fixture(scope="session")
def baseline() -> Run:
    return run_scenario([])


def make_fault(fleet: Fleet, kind: str, trial: int = 0) -> Fault:
    fault = random_fault(kind, fleet, random.Random(f"{kind}-{trial}"), FAULT_AT, FAULT_S, "f1")
    return replace(fault, intensity=1.0 if kind == "load_surge" else 0.8, ramp_s=60.0)


@pytest.fixture(scope="session")
def faulted(fleet: Fleet) -> Callable[[str], tuple[Fault, Run]]:
    """``faulted(kind)``: the fault of that kind and the run with it, computed once per kind."""
    cache: dict[str, tuple[Fault, Run]] = {}

    def get(kind: str) -> tuple[Fault, Run]:
        if kind not in cache:
            fault = make_fault(fleet, kind)
            cache[kind] = (fault, run_scenario([fault]))
        return cache[kind]

    return get
