"""Time to interactive of each dashboard page on a large simulated fleet, in headless Chromium.

The fleet of ``bench/analysis.py`` (default 14 leaves + 2 spines = 16 switches, 126
nodes, 1,008 GPUs) is simulated for ``--hours`` with a port congestion, a GPU neighbor
and a load surge near the end, sent over OTLP/HTTP into a `tailsight up`, and the last
two hours analysed. Then, with that server up, each page is loaded ``--loads`` times in
one headless Chromium at 1920×1080 (the first load, which fetches the scripts, is not
counted) over the whole range; the figure is the median time from navigation until the
page and all its graphs are drawn. A range change on the fleet page (whole range ↔ last
6 hours of it, typed into the picker) is timed the same way. Then, with the server
stopped and the store opened here, each page's render is run again and the time spent
in its store queries alone is printed beside it.

The limit is the issue's: 1 s per page and per redraw. A day of this fleet at 10 s
resolution is ≈150 M points, which the simulator cannot generate on two shared cores in
the time a bench may take, so by default (``--fill sql``) only the last ``--sim-minutes``
(with the three faults) are simulated and sent, every metric every 10 s, and the rest of
the range is filled by SQL: that slice copied back in time, slice after slice, through
the exporter's raw tables (``INSERT … SELECT``), so the materialized views fill every
rollup as ingest does. Counters restart at each copy (a reset every slice), trace ids get
the copy's number. ``--fill sim`` simulates the whole range instead, metrics every
``--metric-every`` ticks. The printed row counts say what the store held.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.analysis import fleet_spec, wait_drained  # noqa: E402
from tailsight.dashboards.pages import PAGES  # noqa: E402
from tailsight.dashboards.timerange import parse_range  # noqa: E402
from tailsight.dashboards.ui import PageContext  # noqa: E402
from tailsight.sim.faults import random_fault  # noqa: E402
from tailsight.sim.fleet import build_fleet  # noqa: E402
from tailsight.sim.scenario import Scenario, Simulation  # noqa: E402
from tailsight.sim.sender import OtlpHttpSender, backfill  # noqa: E402
from tailsight.storage import Store, open_store  # noqa: E402
from tests.conftest import UpProcess  # noqa: E402
from tests.dashboards.browser import chromium, open_page, page_ready, wait_for  # noqa: E402
from tests.timebase import recent_noon  # noqa: E402

LIMIT_S = 1.0
TIMEOUT_S = 120.0


class TimedStore(Store):
    """The real store, adding up the seconds its queries take."""

    spent = 0.0

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        started = time.perf_counter()
        try:
            return super().query(sql, parameters)
        finally:
            TimedStore.spent += time.perf_counter() - started

    def frame(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        started = time.perf_counter()
        try:
            return super().frame(sql, parameters)
        finally:
            TimedStore.spent += time.perf_counter() - started


def build(scenario: Scenario, data: Path, metric_every: int, spans_per_window: float) -> None:
    """Simulate ``scenario`` into a fresh store through ``tailsight up`` (OTLP/HTTP)."""
    up = UpProcess(data / "store", env={"TAILSIGHT_ANALYSIS_INTERVAL_S": "100000"})
    try:
        up.wait_healthy(60)
        sim = Simulation(scenario)
        sim.set_sampling(spans_per_window)
        sender = OtlpHttpSender(f"http://127.0.0.1:{up.otlp_http_port}")
        started = time.monotonic()
        try:
            # A batch carries at most 4 ticks of metrics (a request is capped at 16 MiB).
            batch = max(4, min(30, metric_every))
            backfill(sim, sender, scenario.end, ticks_per_batch=batch, metric_every=metric_every)
        finally:
            sender.close()
        wait_drained(up)
        print(
            f"ingest: {sim.spans_sent:,} spans, {sim.points_sent:,} points in "
            f"{time.monotonic() - started:.0f} s",
            flush=True,
        )
    finally:
        up.stop()


# The raw tables the slice is copied through, with their time columns.
COPIED = {
    "otel_metrics_gauge": ("TimeUnix", "StartTimeUnix"),
    "otel_metrics_sum": ("TimeUnix", "StartTimeUnix"),
    "otel_traces": ("Timestamp",),
}
# The 1-minute tiers copied for the older part; their views fill the 5-minute tiers.
TIER_COPIED = {
    "tailsight_metrics_1m": {
        "Window": "Window - toIntervalSecond(copy * {s})",
        "First": "tuple(First.1 - toIntervalSecond(copy * {s}), First.2)",
        "Last": "tuple(Last.1 - toIntervalSecond(copy * {s}), Last.2)",
    },
    "tailsight_latency_1m": {"Window": "Window - toIntervalSecond(copy * {s})"},
}


def _columns(store: Store, table: str) -> list[str]:
    return [
        str(name)
        for name, kind in store.rows(
            "SELECT name, default_kind FROM system.columns "
            "WHERE database = currentDatabase() AND table = {t:String} ORDER BY position",
            {"t": table},
        )
        if kind not in ("MATERIALIZED", "ALIAS", "EPHEMERAL")
    ]


def _copy(
    store: Store, table: str, exprs: dict[str, str], where: str, copies: range, per_insert: int
) -> None:
    names = _columns(store, table)
    select = ", ".join(exprs.get(n, f"`{n}`") for n in names)
    started = time.monotonic()
    before = int(store.rows(f"SELECT count() FROM {table}")[0][0])
    for first in range(copies.start, copies.stop, per_insert):
        count = min(per_insert, copies.stop - first)
        store.command(
            f"""
            INSERT INTO {table} ({", ".join(f"`{n}`" for n in names)})
            SELECT {select}
            FROM {table} AS src
            CROSS JOIN (SELECT number AS copy FROM numbers({first}, {count})) AS c
            WHERE {where}
            """,
            settings={"insert_deduplicate": 0},
        )
    rows = int(store.rows(f"SELECT count() FROM {table}")[0][0]) - before
    took = time.monotonic() - started
    print(f"  {table}: {rows:,} rows in {took:.0f} s ({rows / max(took, 1e-9):,.0f}/s)", flush=True)


def copy_back(store: Store, slice_start: float, slice_s: int, raw_copies: int, copies: int) -> None:
    """Copy the slice ``[slice_start, +slice_s)`` to each of the ``copies`` slices before it.

    The ``raw_copies`` nearest go through the raw tables (every rollup fills from them);
    older ones copy the slice's 1-minute rollup rows, whose views fill the 5-minute tiers.
    """
    lo = f"toDateTime64({slice_start}, 9, 'UTC')"
    hi = f"toDateTime64({slice_start + slice_s}, 9, 'UTC')"
    for table, times in COPIED.items():
        exprs = {t: f"`{t}` - toIntervalSecond(copy * {slice_s})" for t in times}
        exprs["TraceId"] = "concat(substring(TraceId, 1, 24), hex(toUInt32(copy)))"
        where = f"`{times[0]}` >= {lo} AND `{times[0]}` < {hi}"
        _copy(store, table, exprs, where, range(1, raw_copies + 1), 3)
    for table, shifted in TIER_COPIED.items():
        exprs = {c: e.format(s=slice_s) for c, e in shifted.items()}
        where = f"Window >= toDateTime({slice_start}, 'UTC') AND Window < toDateTime({slice_start + slice_s}, 'UTC')"
        _copy(store, table, exprs, where, range(raw_copies + 1, copies + 1), 24)


def analyse(api: str, start: float, end: float) -> None:
    """Ask the running server to analyse ``[start, end)``, so the store holds incidents."""
    body = f'{{"from": {start}, "to": {end}}}'.encode()
    req = urllib.request.Request(
        api + "/api/v1/analyze", body, {"Content-Type": "application/json"}
    )
    started = time.monotonic()
    with urllib.request.urlopen(req, timeout=1800) as resp:
        resp.read()
    print(
        f"analysed the last {(end - start) / 60:.0f} min in {time.monotonic() - started:.0f} s",
        flush=True,
    )


def page_paths(store: Store, start: datetime, end: datetime) -> dict[str, str]:
    from tailsight.storage.incidents import list_incidents

    incidents = list_incidents(store, start, end)
    paths = {"fleet": "/", "service": "/services/llm-gateway", "gpus": "/gpus", "fabric": "/fabric"}
    if incidents:
        paths["incident"] = f"/incidents/{incidents[0].id}"
    paths["slos"] = "/slos"
    return paths


def browser_times(api: str, paths: dict[str, str], query: str, loads: int) -> dict[str, float]:
    driver = chromium()
    out: dict[str, float] = {}
    try:
        open_page(driver, api + "/" + query, timeout=120)  # scripts fetched and cached
        for name, path in paths.items():
            try:
                times = [
                    open_page(driver, api + path + query, timeout=TIMEOUT_S) for _ in range(loads)
                ]
            except AssertionError:
                print(f"  {name:9} not drawn within {TIMEOUT_S:.0f} s", flush=True)
                out[name] = float("inf")
                driver.quit()
                driver = chromium()
                continue
            out[name] = statistics.median(times)
            print(
                f"  {name:9} {out[name]:.2f} s  (loads: {', '.join(f'{t:.2f}' for t in times)})",
                flush=True,
            )
        out["range change"] = range_change(driver, api, query, loads)
    finally:
        driver.quit()
    return out


def range_change(driver: Any, api: str, query: str, loads: int) -> float:
    """Median seconds from typing a new range into the picker until the fleet page is redrawn."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(driver, api + "/" + query, timeout=120)
    full_from = query.split("from=")[1].split("&")[0]
    end = datetime.fromisoformat(query.split("to=")[1].replace("Z", "+00:00"))
    short_from = (end - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    times = []
    for i in range(loads):
        wanted = short_from if i % 2 == 0 else full_from
        before = driver.find_element(By.CSS_SELECTOR, "main .subtitle").text
        box = driver.find_element(By.ID, "range-from")
        box.clear()
        started = time.monotonic()
        box.send_keys(wanted, Keys.ENTER)
        wait_for(
            lambda b=before: driver.find_element(By.CSS_SELECTOR, "main .subtitle").text != b, 120
        )
        wait_for(lambda: page_ready(driver), 120)
        times.append(time.monotonic() - started)
    median = statistics.median(times)
    print(f"  range change {median:.2f} s  (redraws: {', '.join(f'{t:.2f}' for t in times)})")
    return median


def query_times(data: Path, paths: dict[str, str], query: str) -> dict[str, tuple[float, float]]:
    """Per page: seconds of its render in this process, and of its store queries alone."""
    store = TimedStore(f"chdb://{data / 'store'}")
    out: dict[str, tuple[float, float]] = {}
    try:
        now = datetime.now(UTC)
        ctx = PageContext(store, parse_range(query, now), now)
        import re

        for name, path in paths.items():
            for page in PAGES:
                match = re.match(page.ROUTE, path)
                if match:
                    page.render(ctx, **match.groupdict())  # warm: the engine's caches
                    TimedStore.spent = 0.0
                    started = time.perf_counter()
                    page.render(ctx, **match.groupdict())
                    out[name] = (time.perf_counter() - started, TimedStore.spent)
                    break
        tables = [
            "tailsight_metrics_10s",
            "tailsight_metrics_5m",
            "tailsight_metrics_10m",
            "tailsight_metrics_1h",
            "tailsight_latency_10s",
            "tailsight_latency_5m",
            "tailsight_latency_10m",
            "tailsight_latency_1h",
            "otel_metrics_gauge",
            "otel_metrics_sum",
            "otel_traces",
        ]
        counts = store.rows("SELECT " + ", ".join(f"(SELECT count() FROM {t})" for t in tables))[0]
        print("rows: " + ", ".join(f"{t} {n:,}" for t, n in zip(tables, counts, strict=True)))
    finally:
        store.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leaves", type=int, default=14)
    parser.add_argument("--nodes-per-leaf", type=int, default=9)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--fill", choices=("sql", "sim"), default="sql")
    parser.add_argument(
        "--sim-minutes", type=int, default=10, help="--fill sql: minutes simulated, then copied"
    )
    parser.add_argument(
        "--raw-hours", type=float, default=2.0, help="--fill sql: hours copied through raw tables"
    )
    parser.add_argument(
        "--metric-every", type=int, default=30, help="--fill sim: ticks (10 s) between points"
    )
    parser.add_argument("--spans-per-window", type=float, default=3.0)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--reuse", help="a data dir this bench built before: measure only")
    args = parser.parse_args()
    spec = fleet_spec(args.leaves, args.nodes_per_leaf)
    fleet = build_fleet(spec, 3)
    duration = args.hours * 3600
    start = recent_noon(days_ago=3) - duration + 86400  # ends at noon two days back
    end = start + duration
    slice_s = args.sim_minutes * 60 if args.fill == "sql" else int(duration)
    copies = int(duration // slice_s) - 1
    # The faults start in the simulated part: a minute apart, 5 minutes each (or to its end).
    first = end - min(slice_s, 3600)
    length = min(300, slice_s - 180)
    rng = random.Random(3)
    faults = (
        replace(random_fault("port_congestion", fleet, rng, first + 60, length, "f1"), ramp_s=10),
        replace(
            random_fault("gpu_noisy_neighbor", fleet, rng, first + 120, length, "f2"), ramp_s=10
        ),
        replace(
            random_fault("load_surge", fleet, rng, first + 180, length, "f3"),
            ramp_s=10,
            intensity=1.2,
        ),
    )
    scenario = Scenario(3, end - slice_s, slice_s, spec, faults, name="bench-dashboards")
    every = 1 if args.fill == "sql" else args.metric_every
    print(
        f"fleet: {len(fleet.switches)} switches, {len(fleet.nodes)} nodes, {len(fleet.gpus)} GPUs; "
        f"{args.hours:g} h, metrics every {every * 10} s, "
        f"{args.spans_per_window:g} sampled spans per service per 10 s; "
        + (
            f"the last {args.sim_minutes} min simulated, copied {copies} times before it"
            if args.fill == "sql"
            else "all simulated"
        ),
        flush=True,
    )
    data = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="bench-dashboards-"))
    if not args.reuse:
        build(scenario, data, every, args.spans_per_window)
        if copies > 0:
            with open_store(f"chdb://{data / 'store'}") as store:
                raw = min(copies, int(args.raw_hours * 3600 // slice_s) - 1)
                copy_back(store, scenario.start, slice_s, raw, copies)
        up = UpProcess(data / "store", env={"TAILSIGHT_ANALYSIS_INTERVAL_S": "100000"})
        try:
            up.wait_healthy(120)
            analyse(up.api, end - min(duration, 1800.0), end)
        finally:
            up.stop()
    print(f"store: {data / 'store'}")
    iso = "%Y-%m-%dT%H:%M:%SZ"
    query = (
        f"?from={datetime.fromtimestamp(start, UTC).strftime(iso)}"
        f"&to={datetime.fromtimestamp(end, UTC).strftime(iso)}"
    )
    with open_store(f"chdb://{data / 'store'}") as store:
        paths = page_paths(
            store, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
        )
    up = UpProcess(data / "store", env={"TAILSIGHT_ANALYSIS_INTERVAL_S": "100000"})
    try:
        up.wait_healthy(120)
        print(f"pages over the whole range ({args.hours:g} h), median of {args.loads} loads:")
        loaded = browser_times(up.api, paths, query, args.loads)
    finally:
        up.stop()
    rendered = query_times(data, paths, query)
    print(
        f"\n{'page':14} {'interactive':>11} {'render':>8} {'queries':>8}  ratio to {LIMIT_S:.0f} s"
    )
    for name, seconds in loaded.items():
        render_s, queries_s = rendered.get(name, (float("nan"), float("nan")))
        print(
            f"{name:14} {seconds:10.2f}s {render_s:7.2f}s {queries_s:7.2f}s  {seconds / LIMIT_S:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
