"""Time to analyse one hour of a simulated fleet ingested through the real path, and per-cycle cost.

The fleet (default 14 leaves + 2 spines = 16 switches, 126 nodes, 1,008 GPUs) is
simulated for ``--minutes`` with a port congestion, a GPU neighbor and a load surge in it, sent over
OTLP/HTTP to a `tailsight up` on loopback, and drained into its embedded store. Then,
with the store opened directly:

- full analysis of the range (``analyze_range``: detection on the rollups, attribution);
- one continuous-mode cycle after the last minute arrived (``ContinuousAnalysis.cycle``);
- the limit it is compared with: the same per-service 10 s p99 computed from the raw
  spans, plus one pass over the raw metric rows of the range (what analysis without
  rollups would have to read at least).

``--scale`` shrinks the fleet (nodes per leaf) where the full size cannot be ingested in
the time at hand; the fleet printed is the one measured.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tailsight.app.analyze import analyze_range  # noqa: E402
from tailsight.app.continuous import KEY, SCOPE, ContinuousAnalysis  # noqa: E402
from tailsight.sim.faults import random_fault  # noqa: E402
from tailsight.sim.fleet import FleetSpec, build_fleet  # noqa: E402
from tailsight.sim.scenario import Scenario, Simulation  # noqa: E402
from tailsight.sim.sender import OtlpHttpSender, backfill  # noqa: E402
from tailsight.storage import open_store  # noqa: E402
from tailsight.storage.state import set_state  # noqa: E402
from tests.conftest import UpProcess  # noqa: E402
from tests.timebase import recent_noon  # noqa: E402

START = recent_noon()  # inside the store's TTL, same time of day every run


def fleet_spec(leaves: int, nodes_per_leaf: int) -> FleetSpec:
    serving = nodes_per_leaf - 1
    replicas = leaves * serving * 8 * 3 // 4  # three GPUs in four serve, the rest idle or jobs
    return FleetSpec(
        leaves=leaves,
        spines=2,
        serving_nodes_per_leaf=serving,
        training_nodes_per_leaf=1,
        gpus_per_node=(8,),
        services={
            "llm-gateway": replicas * 4 // 10,
            "embedder": replicas * 3 // 10,
            "reranker": replicas * 2 // 10,
            "asr": replicas // 10,
        },
        batch_jobs=leaves,
    )


def wait_drained(up: UpProcess, timeout_s: float = 1800.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(up.api + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        held = [ln for ln in text.splitlines() if ln.startswith("tailsight_ingest_spool_bytes")]
        if held and float(held[0].split()[-1]) == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("spool did not drain")


def ingest(scenario: Scenario, data: Path) -> None:
    """Send the scenario over OTLP/HTTP to a `tailsight up` on ``data`` and wait until stored."""
    up = UpProcess(data / "store", env={"TAILSIGHT_ANALYSIS_INTERVAL_S": "100000"})
    try:
        up.wait_healthy(60)
        sim = Simulation(scenario)
        sender = OtlpHttpSender(f"http://127.0.0.1:{up.otlp_http_port}")
        started = time.monotonic()
        try:
            backfill(sim, sender, scenario.end, ticks_per_batch=6)
        finally:
            sender.close()
        wait_drained(up)
        ingest_s = time.monotonic() - started
        print(
            f"ingest (simulate + OTLP/HTTP + spool + insert): {sim.spans_sent:,} spans, "
            f"{sim.points_sent:,} points in {ingest_s:.0f} s"
        )
    finally:
        up.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leaves", type=int, default=14)
    parser.add_argument("--nodes-per-leaf", type=int, default=9)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--reuse", help="a data dir this bench ingested before: analyse only")
    args = parser.parse_args()
    spec = fleet_spec(args.leaves, args.nodes_per_leaf)
    fleet = build_fleet(spec, 3)
    duration = args.minutes * 60
    rng = random.Random(3)
    # One fault on one port or GPU moves the p99 of a service with hundreds of replicas
    # too little to detect; the load surge is there so attribution runs at this scale.
    faults = (
        replace(
            random_fault("port_congestion", fleet, rng, START + duration * 0.6, 300, "f1"),
            ramp_s=10,
        ),
        replace(
            random_fault("gpu_noisy_neighbor", fleet, rng, START + duration * 0.75, 300, "f2"),
            ramp_s=10,
        ),
        replace(
            random_fault("load_surge", fleet, rng, START + duration * 0.7, 300, "f3"),
            ramp_s=10,
            intensity=1.2,
        ),
    )
    scenario = Scenario(3, START, duration, spec, faults, name="bench")
    switches = len(fleet.switches)
    print(
        f"fleet: {switches} switches, {len(fleet.nodes)} nodes, {len(fleet.gpus)} GPUs, "
        f"{len(fleet.replicas)} replicas; {args.minutes:.0f} min of telemetry"
    )
    data = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    if not args.reuse:
        ingest(scenario, data)
    print(f"store: {data / 'store'}")
    store = open_store(f"chdb://{data / 'store'}")
    try:
        lo = datetime.fromtimestamp(START, UTC)
        hi = datetime.fromtimestamp(scenario.end, UTC)
        t0 = time.monotonic()
        found = analyze_range(store, lo, hi)
        full_s = time.monotonic() - t0
        t0 = time.monotonic()
        analyze_range(store, lo, hi)
        warm_s = time.monotonic() - t0
        # Continuous mode: the watermark one cycle (30 s) behind the newest settled data.
        scheduler = ContinuousAnalysis(store)
        set_state(store, SCOPE, KEY, (hi - timedelta(seconds=60)).isoformat())
        cycle = scheduler.cycle()
        t0 = time.monotonic()
        store.rows(
            "SELECT ServiceName, toStartOfInterval(Timestamp, INTERVAL 10 SECOND) AS w, "
            "quantile(0.99)(Duration) FROM otel_traces WHERE SpanKind = 'Server' "
            "AND Timestamp >= {lo:DateTime64(9)} AND Timestamp < {hi:DateTime64(9)} GROUP BY 1, 2",
            {"lo": lo, "hi": hi},
        )
        for table in ("otel_metrics_gauge", "otel_metrics_sum"):
            store.rows(
                f"SELECT MetricName, count(), avg(Value) FROM {table} "
                "WHERE TimeUnix >= {lo:DateTime64(9)} AND TimeUnix < {hi:DateTime64(9)} GROUP BY 1",
                {"lo": lo, "hi": hi},
            )
        raw_s = time.monotonic() - t0
        rows = store.rows(
            "SELECT (SELECT count() FROM otel_metrics_gauge) + (SELECT count() FROM otel_metrics_sum)"
        )[0][0]
    finally:
        store.close()
    print(
        f"incidents found: {len(found)}: "
        + ", ".join(
            f"{i.service} {i.causes[0].kind} {i.causes[0].entity.id if i.causes[0].entity else ''}"
            for i in found
        )
    )
    print(
        f"analyse {args.minutes:.0f} min: {full_s:.2f} s (again {warm_s:.2f} s); metric rows stored {rows:,}"
    )
    print(f"continuous cycle ({cycle.start} .. {cycle.end}): {cycle.seconds:.2f} s")
    print(
        f"limit: raw scan of the same range (span p99s + metric pass) {raw_s:.2f} s; "
        f"analysis/raw-scan ratio {full_s / raw_s:.2f}, cycle/raw-scan ratio {cycle.seconds / raw_s:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
