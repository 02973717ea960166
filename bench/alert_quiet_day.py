"""A fault-free simulated day with diurnal load: how many incidents, and how many pages.

Issue 14's acceptance asks for zero pages on such a day. The demo fleet runs for
``--hours`` (default 24) without any fault, its load following the simulator's diurnal
cycle (peak 15:00 UTC, ±45 %) and slow wobble; its spans go into a fresh embedded store
(decoded as ingest decodes them), the day is analysed as ``tailsight analyze`` does, and
the alert manager, with the demo's SLOs (99 % under about twice each service's usual p99,
the gateway's availability at 99.9 %) and a webhook notifier on a local peer, is
evaluated every ``--step`` through the day as the live job would have been. It prints the
incidents found, the pages sent, and the highest page-rule burn rates seen, beside their
limits (their ratio is the margin).

Analysing the day at once judges every window with its successor known; a live cycle
judges the newest window without it, and there a strong spike opens an incident sooner
(``SpikeParams.fast_windows``). So the bench also slides the live edge over every 10 s
window of the day, as the continuous analysis would have met it (the newest window merged
with its predecessor only), and counts the incidents detection would have opened there.

    .venv/bin/python bench/alert_quiet_day.py [--hours 24] [--step 5m]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from tailsight.alerts.lifecycle import Timing  # noqa: E402
from tailsight.alerts.manager import AlertManager  # noqa: E402
from tailsight.alerts.notifiers import build_notifiers  # noqa: E402
from tailsight.alerts.slo import SloCatalog  # noqa: E402
from tailsight.analysis.spikes import (  # noqa: E402
    SUPPORT_LEVELS,
    SpikeParams,
    detect_spikes,
    lookback,
    support_column,
)
from tailsight.app.alerting import notifier_sender  # noqa: E402
from tailsight.app.analyze import analyze_range  # noqa: E402
from tailsight.model import Incident  # noqa: E402
from tailsight.sim.demo import DEMO_FLEET, demo_slos  # noqa: E402
from tailsight.sim.scenario import Scenario  # noqa: E402
from tailsight.storage import Store, open_store  # noqa: E402
from tailsight.storage.migrations import migrate  # noqa: E402
from tailsight.storage.queries import service_latency_windows  # noqa: E402
from tailsight.timeutil import parse_duration  # noqa: E402
from tests.alerts.peers import HttpPeer  # noqa: E402
from tests.alerts.simspans import store_sim_spans  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--step", default="5m", help="evaluation step through the day")
    parser.add_argument("--seed", type=int, default=31)
    args = parser.parse_args()
    step = parse_duration(args.step)
    end = float(int(time.time()) // 3600 * 3600 - 3600)
    start = end - args.hours * 3600
    scenario = Scenario(args.seed, start, end - start, DEMO_FLEET, (), name="quiet-day")
    peer = HttpPeer()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "slos").mkdir()
        (root / "slos" / "demo.yaml").write_text(yaml.safe_dump_all(demo_slos()))
        store = open_store(f"chdb://{root / 'store'}")
        try:
            migrate(store, ttl_days=30)
            began = time.monotonic()
            spans = store_sim_spans(store, scenario)
            print(f"{spans:,} spans of {args.hours:g} h stored in {time.monotonic() - began:.0f} s")
            lo, hi = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
            began = time.monotonic()
            incidents = analyze_range(store, lo + timedelta(hours=1), hi)
            print(f"analysed in {time.monotonic() - began:.0f} s: {len(incidents)} incident(s)")
            for inc in incidents:
                top = inc.causes[0].kind if inc.causes else "-"
                print(f"  {inc.service} {inc.start:%H:%M} p99 {inc.p99_ms:.0f} ms ({top})")
            began = time.monotonic()
            edges, at_edge = live_edge_incidents(store, lo + timedelta(hours=1), hi)
            print(
                f"live edge slid over {edges:,} windows in {time.monotonic() - began:.0f} s: "
                f"{len(at_edge)} incident(s) opened there"
            )
            for inc in at_edge:
                print(f"  {inc.service} {inc.start:%H:%M:%S} p99 {inc.p99_ms:.0f} ms "
                      f"(baseline {inc.baseline_p99_ms:.0f} ms)")  # fmt: skip
            notifiers = build_notifiers(
                [{"type": "webhook", "url": f"{peer.url}/hook"}], None, "b@localhost", None
            )
            manager = AlertManager(
                store,
                SloCatalog(root / "slos"),
                {n.name: None for n in notifiers},
                notifier_sender(notifiers),
                timing=Timing(),
            )
            worst: dict[str, float] = {}
            evaluations = 0

            async def walk() -> None:
                nonlocal evaluations
                t = lo + timedelta(hours=1)
                while t <= hi:
                    result = await manager.evaluate(t)
                    evaluations += 1
                    for status in result.statuses:
                        for key in ("5m", "1h", "30m", "6h"):
                            rate = status.burn_rates.get(key) or 0.0
                            name = f"{status.slo.name} {key}"
                            worst[name] = max(worst.get(name, 0.0), rate)
                    t += step
                await manager.drain()

            began = time.monotonic()
            asyncio.run(walk())
            took = time.monotonic() - began
        finally:
            store.close()
    fired = [a for r in peer.on("/hook") for a in r.json()["alerts"] if a["status"] == "firing"]
    pages = [a for a in fired if a["labels"]["severity"] == "page"]
    peer.stop()
    print(
        f"{evaluations} evaluations every {args.step} in {took:.0f} s: {len(pages)} page(s), "
        f"{len(fired) - len(pages)} ticket(s)"
    )
    for alert in fired:
        print(f"  {alert['labels']['severity'].upper()} {alert['labels']['alertname']}: "
              f"{alert['annotations']['summary']}")  # fmt: skip
    print("highest burn rates of the page rules (limit: 14.4x over 1h and 5m, 6x over 6h and 30m):")
    for name, rate in sorted(worst.items()):
        limit = 14.4 if name.endswith((" 1h", " 5m")) else 6.0
        print(f"  {name:34s} {rate:6.2f}x  ({rate / limit:.2f} of the limit)")
    return 0 if not pages and not at_edge else 1


def live_edge_incidents(
    store: Store, lo: datetime, hi: datetime, params: SpikeParams | None = None
) -> tuple[int, list[Incident]]:
    """The incidents a live cycle would have opened at each 10 s window of ``[lo, hi)``.

    Only windows whose own p99 is at least twice the median of the 30 minutes before, or
    whose p90 is 1.5 times its median, are replayed (an incident opened at the edge needs
    its newest window anomalous: the p99 or the p90 1.8x its baseline), each with the 190
    windows before it and itself merged with its predecessor only.
    """
    params = params or SpikeParams()
    since = lo - lookback(params, 10)
    centered = service_latency_windows(store, since, hi, 10, SUPPORT_LEVELS)
    trailing = service_latency_windows(store, since, hi, 10, SUPPORT_LEVELS, trailing=True)
    step = timedelta(seconds=10)
    opened: dict[tuple[str, datetime], Incident] = {}
    edges = 0
    for service, frame in centered.groupby("service"):
        frame = frame.sort_values("window").reset_index(drop=True)
        newest = trailing[trailing["service"] == service].sort_values("window")
        newest = newest.reset_index(drop=True)
        p99 = _rolling_ratio(frame["p99_ms"], params)
        body = _rolling_ratio(frame[support_column(SUPPORT_LEVELS[0])], params)
        first = int((frame["window"] < pd.Timestamp(lo)).sum())
        edges += len(frame) - first
        for j in range(max(first, params.min_baseline_windows), len(frame)):
            if not (p99[j] >= 2.0 or body[j] >= 1.5):
                continue
            seen = pd.concat([frame.iloc[max(0, j - 190) : j], newest.iloc[[j]]], ignore_index=True)
            at = frame["window"].iloc[j].to_pydatetime()
            for inc in detect_spikes(seen, at - 12 * step, at + step, params):
                if inc.end is None:
                    opened.setdefault((inc.service, inc.start), inc)
    return edges, sorted(opened.values(), key=lambda i: i.start)


def _rolling_ratio(values: pd.Series, params: SpikeParams) -> np.ndarray:
    """Each value over the median of the ``baseline_windows`` before it."""
    series = values.astype(float).reset_index(drop=True)
    median = series.shift(1).rolling(params.baseline_windows, min_periods=30).median()
    return (series / median).to_numpy()


if __name__ == "__main__":
    raise SystemExit(main())
