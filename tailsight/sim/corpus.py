"""The labelled corpus: one random scenario per seed, its YAML and its ground truth.

Every seed gets a 2-hour scenario (the first 40 minutes clean, so a detector has its
baseline) with one incident of kind ``INCIDENT_KINDS[seed % 6]`` (own-CPU saturation
included), often a second incident of another kind (overlapping the first in a third of
the seeds), and one or two
distractors. Every third seed (``seed % 3 == 0``, :func:`large_fleet`) runs on a large
fleet instead: an ``embedder`` of 120 replicas (a fault on one of them moves under 1 % of
its requests) and a thin ``moderation`` service (one request per 10 s), which gets a fault
of its own on one of its replicas; those seeds' scenarios changed with it (issue 17), the
others are as they were. ``DIR/seed-0007/scenario.yaml`` and ``DIR/seed-0007/truth.json`` per seed,
and ``DIR/index.json`` listing them.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from tailsight.sim.faults import DISTRACTOR_KINDS, INCIDENT_KINDS, Fault, random_fault
from tailsight.sim.fleet import Fleet, FleetSpec, build_fleet
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
    large = large_fleet(seed)
    if large:
        spec = LARGE_FLEET
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
    thin = _thin_fault(fleet, seed, start + WARMUP_S, span) if large else None
    if thin is not None and not _same_target(thin, faults):
        faults.append(thin)
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


LARGE_FLEET = FleetSpec(
    leaves=3,
    serving_nodes_per_leaf=6,
    gpus_per_node=(8,),
    services={"llm-gateway": 4, "embedder": 120, "reranker": 3, "asr": 2, "moderation": 2},
)
THIN_KINDS = ("gpu_noisy_neighbor", "cpu_saturation", "gpu_underutilized")


def large_fleet(seed: int) -> bool:
    """Whether ``seed`` runs on :data:`LARGE_FLEET` (a 120-replica service and a thin one)."""
    return seed % 3 == 0


def _thin_fault(fleet: Fleet, seed: int, t0: float, span: float) -> Fault:
    """A fault on a replica of the thin ``moderation`` service (its own draws: the rest stays)."""
    rng = random.Random(f"corpus-thin-{seed}")
    kind = rng.choice(THIN_KINDS)
    replica = rng.choice(fleet.replicas_of("moderation"))
    fault = random_fault(kind, fleet, rng, t0 + rng.uniform(0, span), rng.uniform(600, 900), "t1")
    if kind == "cpu_saturation":
        return replace(fault, target=replica.host, pid=replica.pid, executable="python3")
    return replace(fault, target=replica.gpu)


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
