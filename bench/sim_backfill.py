"""Simulator backfill: telemetry rows/s sent into a real `tailsight up`, and its ratio to generation alone.

The demo fleet's telemetry over ``--hours`` of simulated time at the demo's full
resolution (metrics every 30 s, 30 sampled spans per service per 10 s) is

1. generated and serialized only (the limit: how fast the simulator can produce it), and
2. generated and sent over OTLP/HTTP protobuf to a `tailsight up` on a fresh embedded
   store (loopback, free ports), until the receiver has acknowledged every request.

Figure: rows (spans + metric points) per wall second of (2). ratio = (2) / (1): how much
of the simulator's speed survives the real ingest path on this machine.

    .venv/bin/python bench/sim_backfill.py [--hours 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ingest_load import Receiver

from tailsight.sim.demo import FINE, demo_scenario
from tailsight.sim.scenario import Simulation
from tailsight.sim.sender import OtlpHttpSender, backfill


def _simulation(hours: float, now: float) -> Simulation:
    scenario = demo_scenario(now, history_s=hours * 3600, fine_s=hours * 3600)
    sim = Simulation(scenario)
    sim.set_sampling(FINE.spans_per_window)
    return sim


def generate_only(hours: float, now: float) -> float:
    sim = _simulation(hours, now)
    started = time.perf_counter()
    for batch in sim.batches(now, ticks_per_batch=12, metric_every=FINE.metric_every):
        for message in (batch.metrics, batch.spans):
            if message is not None:
                message.SerializeToString()
    took = time.perf_counter() - started
    return (sim.spans_sent + sim.points_sent) / took


def send_to_receiver(hours: float, now: float, tmp: Path) -> tuple[float, int, int]:
    receiver = Receiver(tmp / "data")
    try:
        sim = _simulation(hours, now)
        sender = OtlpHttpSender(f"http://127.0.0.1:{receiver.http_port}")
        started = time.perf_counter()
        backfill(sim, sender, now, ticks_per_batch=12, metric_every=FINE.metric_every)
        took = time.perf_counter() - started
        sender.close()
    finally:
        receiver.stop()
    rows = sender.stats.spans + sender.stats.points
    return rows / took, sender.stats.spans, sender.stats.points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    now = float(int(time.time()) // 10 * 10)
    limit = generate_only(args.hours, now)
    with tempfile.TemporaryDirectory() as tmp:
        figure, spans, points = send_to_receiver(args.hours, now, Path(tmp))
    print(
        f"sim backfill: {figure:,.0f} rows/s sent into tailsight up "
        f"({spans:,} spans + {points:,} points for {args.hours:g} h simulated)"
    )
    print(f"generation only: {limit:,.0f} rows/s; ratio {figure / limit:.2f}")


if __name__ == "__main__":
    main()
