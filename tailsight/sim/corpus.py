"""The labelled corpus: one random scenario per seed, its YAML and its ground truth.

Every seed gets a 2-hour scenario (the first 40 minutes clean, so a detector has its
baseline) with one incident of kind ``INCIDENT_KINDS[seed % 6]`` (own-CPU saturation
included), often a second incident of another kind (overlapping the first in a third of
the seeds), and one or two
distractors. ``DIR/seed-0007/scenario.yaml`` and ``DIR/seed-0007/truth.json`` per seed,
and ``DIR/index.json`` listing them.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from tailsight.sim.faults import DISTRACTOR_KINDS, INCIDENT_KINDS, Fault, random_fault
from tailsight.sim.fleet import FleetSpec, build_fleet
from tailsight.sim.scenario import Scenario

CORPUS_EPOCH = 1793491200.0  # 2026-11-01T00:00:00Z
WARMUP_S = 2400.0


def corpus_scenario(
    seed: int, duration_s: float = 7200.0, spans_per_window: float = 40.0
) -> Scenario:
    """The corpus scenario of ``seed``: reproducible, different for every seed."""
    rng = random.Random(f"corpus-{seed}")
    start = CORPUS_EPOCH + (seed % 7) * 86400 + rng.randrange(24) * 3600
    spec = FleetSpec(
        leaves=rng.choice((2, 3)),
        serving_nodes_per_leaf=rng.choice((2, 3)),
        gpus_per_node=rng.choice(((4, 8), (4,), (8,))),
    )
    fleet = build_fleet(spec, seed)
    faults: list[Fault] = []
    span = duration_s - WARMUP_S - 600
    primary = INCIDENT_KINDS[seed % len(INCIDENT_KINDS)]
    t1 = start + WARMUP_S + rng.uniform(0, span / 2)
    d1 = rng.uniform(300, 900)
    faults.append(random_fault(primary, fleet, rng, t1, d1, "f1"))
    if rng.random() < 0.7:
        second = rng.choice([k for k in INCIDENT_KINDS if k != primary])
        overlap = rng.random() < 0.45
        t2 = t1 + rng.uniform(0.2, 0.8) * d1 if overlap else t1 + d1 + rng.uniform(600, 1200)
        d2 = rng.uniform(300, 900)
        if t2 + d2 < start + duration_s - 120:
            f2 = random_fault(second, fleet, rng, t2, d2, "f2")
            if not _same_target(f2, faults):
                faults.append(f2)
    for i in range(rng.choice((1, 2))):
        kind = rng.choice(DISTRACTOR_KINDS)
        t = start + WARMUP_S + rng.uniform(0, span)
        try:
            faults.append(random_fault(kind, fleet, rng, t, rng.uniform(300, 900), f"d{i + 1}"))
        except ValueError:
            continue  # e.g. no idle GPU in this fleet
    faults = [replace(f, end=min(f.end, start + duration_s - 60)) for f in faults]
    return Scenario(
        seed=seed,
        start=start,
        duration_s=duration_s,
        fleet=spec,
        faults=tuple(faults),
        spans_per_window=spans_per_window,
        name=f"seed-{seed:04d}",
    )


def _same_target(fault: Fault, faults: list[Fault]) -> bool:
    return any(f.target == fault.target for f in faults)


def write_corpus(seeds: list[int], out: Path, duration_s: float = 7200.0) -> list[dict[str, Any]]:
    """Write each seed's scenario and truth under ``out``; returns the index entries."""
    out.mkdir(parents=True, exist_ok=True)
    index: list[dict[str, Any]] = []
    for seed in seeds:
        scenario = corpus_scenario(seed, duration_s)
        folder = out / scenario.name
        folder.mkdir(exist_ok=True)
        (folder / "scenario.yaml").write_text(scenario.to_yaml())
        truth = scenario.truth()
        (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
        index.append(
            {
                "seed": seed,
                "scenario": f"{scenario.name}/scenario.yaml",
                "truth": f"{scenario.name}/truth.json",
                "kinds": [f["kind"] for f in truth["faults"]],
            }
        )
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def parse_seeds(text: str) -> list[int]:
    """``1-50``, ``3``, ``1,4,9-12`` → seeds; ``ValueError`` otherwise."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            a, b = int(lo), int(hi)
            if b < a:
                raise ValueError(f"seed range {part!r} runs backwards")
            seeds.extend(range(a, b + 1))
        elif part:
            seeds.append(int(part))
    if not seeds:
        raise ValueError(f"{text!r} names no seeds")
    return seeds
