"""Time to a right culprit without the wall clock: the live edge replayed offline, per fault.

``alert_latency.py`` measures the whole live pipeline, so its figures move with the
machine's load (an analysis cycle takes 0.5 s on a quiet machine and 30 s on a crowded
one). This replays what the continuous analysis sees at the live edge, independently of
load: the demo fleet with one step fault is simulated and inserted tick by tick into an
embedded store (30 minutes of history first), and after each 10 s window
``analyze_range`` runs up to that window's end, as a live cycle does ``analysis_settle_s``
(5 s) after it. For each fault it prints when an incident of an affected service (or a
caller) opened and when its top cause first named the culprit, in seconds after the
fault's onset counting the 5 s settle; the limit is issue 14's 60 s to a right page.

    .venv/bin/python bench/alert_replay.py [--kinds port_congestion,...] [--seeds 1,2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tailsight.app.analyze import analyze_range  # noqa: E402
from tailsight.sim.demo import DEMO_FLEET  # noqa: E402
from tailsight.sim.direct import store_batch  # noqa: E402
from tailsight.sim.faults import INCIDENT_KINDS, random_fault, truth  # noqa: E402
from tailsight.sim.fleet import build_fleet  # noqa: E402
from tailsight.sim.scenario import Scenario, Simulation  # noqa: E402
from tailsight.storage import open_store  # noqa: E402
from tailsight.storage.migrations import migrate  # noqa: E402

SETTLE_S = 5.0
LIMIT_S = 60.0


def replay(kind: str, seed: int, offset_s: float, horizon_s: float, tmp: Path) -> dict[str, object]:
    """One fault of ``kind`` replayed at the live edge; seconds to detection and to the culprit."""
    fleet = build_fleet(DEMO_FLEET, seed)
    t0 = float(int(time.time()) // 3600 * 3600 - 7200) - horizon_s - 10
    fault = random_fault(kind, fleet, random.Random(f"{kind}-{seed}"), t0 + offset_s, 600, "f1")
    fault = replace(fault, ramp_s=10, intensity=1.0)
    want = truth(fault, fleet)
    hurt = set(want["affected_services"]) | set(want["upstream_services"])
    good = {f"{e['type']}:{e['id']}" for e in [want["culprit"], *want["accepted"]] if e}
    scenario = Scenario(seed, t0 - 1800, 1800 + horizon_s + 10, DEMO_FLEET, (fault,), name="replay")
    sim = Simulation(scenario)
    store = open_store(f"chdb://{tmp / f'{kind}-{seed}'}")
    detected = named = None
    first = "-"
    try:
        migrate(store, ttl_days=30)
        for batch in sim.batches(t0 - 30, ticks_per_batch=30):
            store_batch(store, batch)
        t = t0 - 30
        while t < t0 + horizon_s and named is None:
            for batch in sim.batches(t + 10, ticks_per_batch=1):
                store_batch(store, batch)
            t += 10
            lo, hi = datetime.fromtimestamp(t0 - 120, UTC), datetime.fromtimestamp(t, UTC)
            for inc in analyze_range(store, lo, hi):
                if inc.service not in hurt or inc.end is not None:
                    continue
                at = t + SETTLE_S - t0 - offset_s
                detected = at if detected is None else detected
                cause = inc.causes[0]
                entity = f"{cause.entity.type}:{cause.entity.id}" if cause.entity else "unknown"
                first = entity if first == "-" else first
                if entity in good and named is None:
                    named = at
    finally:
        store.close()
    return {"kind": kind, "seed": seed, "detected": detected, "named": named, "first": first}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=",".join(INCIDENT_KINDS))
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--offset", type=float, default=4.0, help="onset's seconds into its window")
    parser.add_argument("--horizon", type=float, default=150.0, help="seconds replayed after onset")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = replay(kind, seed, args.offset, args.horizon, Path(tmp))
                rows.append(row)
                print(f"{kind:20s} seed {seed}: detected {_s(row['detected'])}, right culprit "
                      f"{_s(row['named'])} (first named {row['first']})", flush=True)  # fmt: skip
    named = [float(r["named"]) for r in rows if r["named"] is not None]  # type: ignore[arg-type]
    print(f"\nright culprit within {args.horizon:.0f} s: {len(named)} of {len(rows)}")
    if named:
        med, worst = statistics.median(named), max(named)
        print(f"median {med:.0f} s, max {worst:.0f} s; ratio to the {LIMIT_S:.0f} s limit: "
              f"median {med / LIMIT_S:.2f}, max {worst / LIMIT_S:.2f}")  # fmt: skip
    return 0


def _s(value: object) -> str:
    return f"{value:.0f} s" if isinstance(value, float) else "never"


if __name__ == "__main__":
    raise SystemExit(main())
