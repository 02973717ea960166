"""CPU cost of one SLO evaluation cycle: 100 SLOs over a simulated 1,000-GPU fleet.

The fleet of ``bench/analysis.py`` (16 switches, 126 nodes, 1,008 GPUs, four services) is
simulated for ``--minutes`` at ``--spans-per-window`` sampled requests per service and
10 s (each span carrying its sampling probability), and its spans are decoded as ingest
decodes them and stored in a fresh embedded store, which fills the SLO rollup at insert.
Then, per cycle, with the CPU time of this process (chDB's threads included):

1. ``evaluate_slos`` of 100 SLOs (latency thresholds, availability, both, per operation,
   rolling and calendar windows): SLI over the SLO window and burn rates over the seven
   alerting windows;
2. the limit it is compared with: the same good/total counts from raw spans (one query
   per distinct selector, summing every window in one scan of the longest);
3. the evaluation again after ``--history-days`` of rollup history is added (the
   simulated rollup copied back in time: 10 s rows for the last 3 days, hours before),
   which is what a cycle reads once the store is full; limit 1 s of CPU;
4. what the rollup costs at insert: the same decoded spans inserted into a store with
   the rollup's views and into one without them (``--insert-minutes`` of the fleet).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.analysis import fleet_spec  # noqa: E402
from tailsight.alerts.evaluate import evaluate_slos, slo_window_start, window_end  # noqa: E402
from tailsight.alerts.slo import DEFAULT_RULES, Slo, SpanSelector  # noqa: E402
from tailsight.pipeline.batch import TableBatch  # noqa: E402
from tailsight.pipeline.decode_traces import decode_traces  # noqa: E402
from tailsight.sim.fleet import build_fleet  # noqa: E402
from tailsight.sim.scenario import Scenario, Simulation  # noqa: E402
from tailsight.storage import Store, open_store  # noqa: E402
from tailsight.storage.migrations import migrate  # noqa: E402
from tailsight.storage.migrations.m0007_slo_rollup import TIERS  # noqa: E402
from tailsight.storage.slo_queries import raw_span_window_counts  # noqa: E402
from tests.alerts.simspans import store_sim_spans  # noqa: E402
from tests.timebase import recent_noon  # noqa: E402

LIMIT_CPU_S = 1.0
THRESHOLDS_MS = (100.0, 250.0, 500.0, 1000.0, 2000.0)
TARGETS = (0.99, 0.995, 0.999, 0.95)
WINDOWS = ((28 * 86400, "28d"), (7 * 86400, "7d"), (30 * 86400, "30d"))


def make_slos(operations: dict[str, str], count: int = 100) -> list[Slo]:
    """``count`` SLOs spread over the services: five shapes, thresholds, targets and windows."""
    services = sorted(operations)
    slos = []
    for i in range(count):
        service = services[i % len(services)]
        shape = i // len(services) % 5
        threshold = THRESHOLDS_MS[i // 20 % len(THRESHOLDS_MS)]
        total = SpanSelector(service)
        good = {
            0: SpanSelector(service, None, threshold, False),
            1: SpanSelector(service, None, None, True),
            2: SpanSelector(service, None, threshold, True),
            3: SpanSelector(service, operations[service], threshold, False),
            4: SpanSelector(service, None, None, True),
        }[shape]
        if shape == 3:
            total = SpanSelector(service, operations[service])
        window_s, text = WINDOWS[i % len(WINDOWS)]
        calendar = shape == 4
        slos.append(
            Slo(
                name=f"slo-{i:03d}",
                display_name=f"SLO {i}",
                service=service,
                description="",
                target=TARGETS[i % len(TARGETS)],
                window_s=30 * 86400 if calendar else window_s,
                rolling=not calendar,
                good=good,
                total=total,
                rules=DEFAULT_RULES,
                min_requests=20,
                file="bench",
                window_text="1M" if calendar else text,
                calendar="M" if calendar else "",
            )
        )
    return slos


def cpu_per_cycle(fn: Callable[[], object], cycles: int) -> tuple[float, float]:
    """Median CPU and wall seconds of ``cycles`` calls (after one warm-up call)."""
    fn()
    cpu, wall = [], []
    for _ in range(cycles):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def raw_counts(
    store: Store, slos: list[Slo], now: datetime
) -> tuple[list[int], dict[SpanSelector, list[float]]]:
    """Window starts, and per selector its count in each, from raw spans: one scan per selector."""
    end = window_end(now)
    starts = sorted(
        {end - s for slo in slos for s in slo.windows.values()}
        | {slo_window_start(slo, end, now) for slo in slos}
    )
    out = {}
    for sel in {s for slo in slos for s in (slo.good, slo.total)}:
        assert isinstance(sel, SpanSelector)
        out[sel] = raw_span_window_counts(
            store, sel.service, sel.operation, sel.max_duration_ms, sel.ok, starts, end
        )
    return starts, out


def add_history(store: Store, start: int, end: int, days: int) -> int:
    """Copy the simulated rollup back in time: 10 s rows for 3 days, then hourly rows."""
    span = end - start
    fine_copies = min(days, 3) * 86400 // span
    store.command(
        """
        INSERT INTO tailsight_slo_10s
        SELECT Service, Operation, Window - k * {span:UInt32}, Requests, Failures, Spans, Latency
        FROM tailsight_slo_10s
        ARRAY JOIN range(1, {copies:UInt32} + 1) AS k
        WHERE Window >= toDateTime({start:UInt32}) AND Window < toDateTime({end:UInt32})
        """,
        {"span": span, "copies": fine_copies, "start": start, "end": end},
    )
    if days > 3:
        # One simulated day's hours (the last one, now full) copied a day back at a time.
        day_end = end // 3600 * 3600
        store.command(
            """
            INSERT INTO tailsight_slo_1h
            SELECT Service, Operation, Window - k * 86400, Requests, Failures, Spans, Latency
            FROM tailsight_slo_1h
            ARRAY JOIN range(1, {days:UInt32} - 2) AS k
            WHERE Window >= toDateTime({lo:UInt32}) AND Window < toDateTime({hi:UInt32})
            """,
            {"days": days, "lo": day_end - 3 * 86400, "hi": day_end - 2 * 86400},
        )
    return int(store.rows("SELECT count() FROM tailsight_slo_10s")[0][0])


def insert_cost(spec: object, start: int, minutes: float, spans_per_window: float) -> None:
    """CPU per span of inserting the same spans with and without the SLO rollup's views."""
    scenario = Scenario(
        4, start, minutes * 60, spec, (), spans_per_window=spans_per_window, name="slo-insert"
    )  # type: ignore[arg-type]
    sim = Simulation(scenario)
    # Inserts of up to 40,000 spans, as the ingest writer inserts a spool segment.
    batches: list[TableBatch] = []
    for batch in sim.batches(scenario.end, 6, metric_every=10**9):
        for table in decode_traces(batch.spans).batches if batch.spans is not None else ():
            if batches and batches[-1].rows < 40_000:
                batches[-1].extend(table)
            else:
                batches.append(table)
    spans = sum(t.rows for t in batches)
    cost = {}
    for views in (True, False):
        data = Path(tempfile.mkdtemp(prefix="bench-slo-insert-"))
        store = open_store(f"chdb://{data / 'store'}")
        try:
            migrate(store, 30)
            if not views:
                for _, name in reversed(TIERS):
                    store.command(f"DROP VIEW IF EXISTS {name}_mv")
            c = time.process_time()
            for table in batches:
                store.insert_columns(table.table, table.columns, list(table.names))
            cost[views] = (time.process_time() - c) / spans * 1e6
        finally:
            store.close()
    print(
        f"insert of {spans:,} spans ({len(batches)} insert(s)): {cost[True]:.1f} µs CPU a span with the SLO rollup, "
        f"{cost[False]:.1f} without; the rollup adds {cost[True] - cost[False]:.1f} µs a span"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leaves", type=int, default=14)
    parser.add_argument("--nodes-per-leaf", type=int, default=9)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--spans-per-window", type=float, default=1000.0)
    parser.add_argument("--slos", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--history-days", type=int, default=28)
    parser.add_argument(
        "--insert-minutes", type=float, default=2.0, help="simulated minutes for the insert cost"
    )
    args = parser.parse_args()
    spec = fleet_spec(args.leaves, args.nodes_per_leaf)
    fleet = build_fleet(spec, 3)
    start = int(recent_noon())
    duration = int(args.minutes * 60)
    scenario = Scenario(
        3, start, duration, spec, (), spans_per_window=args.spans_per_window, name="slo-bench"
    )
    print(
        f"fleet: {len(fleet.switches)} switches, {len(fleet.nodes)} nodes, {len(fleet.gpus)} GPUs, "
        f"{len(fleet.replicas)} replicas; {args.minutes:g} min at {args.spans_per_window:g} "
        "sampled spans per service and 10 s"
    )
    data = Path(tempfile.mkdtemp(prefix="bench-slo-"))
    store = open_store(f"chdb://{data / 'store'}")
    try:
        migrate(store, 30)
        t0 = time.monotonic()
        spans = store_sim_spans(store, scenario)
        print(f"stored {spans:,} spans in {time.monotonic() - t0:.0f} s (simulate, decode, insert)")
        operations = dict(
            store.rows("SELECT Service, any(Operation) FROM tailsight_slo_10s GROUP BY Service")
        )
        slos = make_slos(operations, args.slos)
        now = datetime.fromtimestamp(start + duration - 1, UTC)
        statuses = evaluate_slos(store, slos, now)
        starts, raw = raw_counts(store, slos, now)
        worst = 0.0  # the rollup's counts against the raw ones, as a share of the total
        for st in statuses:
            for key in ("5m", "1h"):
                i = starts.index(window_end(now) - st.slo.windows[key])
                total, good = raw[st.slo.total][i], raw[st.slo.good][i]
                assert abs(st.requests[key] - total) <= 1e-6 * max(total, 1.0)
                if total:
                    worst = max(worst, abs(st.good[key] - min(good, total)) / total * 100)
        print(
            f"{len(slos)} SLOs; totals equal raw ones; good counts at most {worst:.3f} pp apart (5m, 1h)"
        )
        rollup_cpu, rollup_wall = cpu_per_cycle(
            lambda: evaluate_slos(store, slos, now), args.cycles
        )
        raw_cpu, raw_wall = cpu_per_cycle(lambda: raw_counts(store, slos, now), args.cycles)
        print(
            f"evaluation cycle from the rollup: {rollup_cpu:.3f} s CPU ({rollup_wall:.3f} s wall)"
        )
        print(
            f"same counts from raw spans ({args.minutes:g} min of them): {raw_cpu:.3f} s CPU "
            f"({raw_wall:.3f} s wall); raw/rollup ratio {raw_cpu / rollup_cpu:.1f}"
        )
        if args.history_days:
            t0 = time.monotonic()
            rows = add_history(store, start, start + duration, args.history_days)
            print(
                f"history: {args.history_days} days of rollup ({rows:,} 10 s rows) added in "
                f"{time.monotonic() - t0:.0f} s"
            )
            full_cpu, full_wall = cpu_per_cycle(
                lambda: evaluate_slos(store, slos, now), args.cycles
            )
            print(
                f"evaluation cycle with full windows: {full_cpu:.3f} s CPU ({full_wall:.3f} s wall); "
                f"limit {LIMIT_CPU_S:.1f} s CPU, ratio to limit {full_cpu / LIMIT_CPU_S:.2f}"
            )
    finally:
        store.close()
    if args.insert_minutes:
        insert_cost(spec, start, args.insert_minutes, args.spans_per_window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
