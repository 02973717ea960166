"""Ingest throughput: spans/s per core of the receiver process, and its ratio to parse + insert.

A `tailsight up` process (embedded store, fresh data directory) receives OTLP/HTTP
protobuf over loopback from sender threads in this process: realistic spans (12
attributes each, 4 services/resources per request, 500 spans per request). The figure is
spans stored / CPU seconds the receiver process spent (all its threads, including the
store engine's) from the first request until every span is in ``otel_traces``. The
store's merges of the new parts mostly run after that (or inside a later round);
"all-in" counts them too: the receiver's CPU above its idle rate until it is idle again.
The measured spans follow a warm-up of as many others (``--warm``): a receiver in service
has long since grown its buffers and the engine its caches, which the first tens of
thousands of spans into a fresh process pay for (page faults on new memory, first
inserts); their figure is printed as "cold". The measured requests go in rounds
(``--rounds``, one receiver), and the median round is the figure: this machine's page
faults cost from 0.5 to 7 µs each from one moment to the next (bench/README.md), which
moves single runs by ±15%.

The limit, measured in this run on the same batches: the CPU time to parse the same
requests with upb (parse-only) plus the CPU time the store engine takes to insert the same
rows, already rendered as Native blocks of one spool segment each, into the same table
with its views and the receiver's insert settings, after one untimed insert (insert-only:
the engine alone). ratio = figure / limit.

    .venv/bin/python bench/ingest.py [--requests 120] [--rounds 3] [--warm 120] [--spans 500]
        [--senders 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ingest_load import Receiver, SendStats, send
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tailsight.pipeline import native_traces
from tailsight.pipeline.spool import SEGMENT_BYTES
from tailsight.pipeline.writer import insert_settings
from tailsight.storage import open_store
from tailsight.storage.migrations import migrate
from tailsight.storage.otlp_protobuf import insert_traces_native
from tests.pipeline.otlp_data import span_request

IDLE_WINDOW_S = 1.0


def idle_rate(receiver: Receiver, seconds: float = 2.0) -> float:
    """CPU seconds per second the receiver spends with nothing to do (scheduler, timers)."""
    cpu0, t0 = receiver.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (receiver.cpu_seconds() - cpu0) / (time.monotonic() - t0)


def settle(receiver: Receiver, idle: float, timeout_s: float = 180.0) -> float:
    """Wait until the receiver is back to idle: the store's merges of the new parts done.

    Returns the CPU seconds spent meanwhile above the idle rate.
    """
    spent, deadline = 0.0, time.monotonic() + timeout_s
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        cpu0, t0 = receiver.cpu_seconds(), time.monotonic()
        time.sleep(IDLE_WINDOW_S)
        busy = receiver.cpu_seconds() - cpu0 - idle * (time.monotonic() - t0)
        spent += max(0.0, busy)
        # Clock ticks are 10 ms: within two ticks of idle counts as idle.
        quiet = quiet + 1 if busy <= 0.02 else 0
    return spent


def _timed_send(
    receiver: Receiver, bodies: list[tuple[bytes, int]], senders: int
) -> tuple[int, float, float]:
    """(spans, CPU seconds of the receiver, wall seconds) from the first request until all
    is written."""
    base = receiver.rows_written()
    total = sum(n for _, n in bodies)
    stats = SendStats()
    cpu0, t0 = receiver.cpu_seconds(), time.monotonic()
    threads = [
        threading.Thread(target=send, args=(receiver.http_port, bodies[k::senders], stats))
        for k in range(senders)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if stats.ok_spans != total:
        raise SystemExit(f"only {stats.ok_spans} of {total} spans acknowledged: {stats}")
    if not receiver.wait_written(base + total, 300):
        raise SystemExit("the receiver did not write every span in 300 s")
    return total, receiver.cpu_seconds() - cpu0, time.monotonic() - t0


@dataclass
class Round:
    """One measured batch of requests: CPU seconds until written, merges after, wall seconds."""

    spans: int
    cpu: float
    merges: float
    wall: float

    @property
    def per_cpu(self) -> float:
        return self.spans / self.cpu


def measure_receiver(
    warm: list[tuple[bytes, int]], rounds: list[list[tuple[bytes, int]]], senders: int, tmp: Path
) -> tuple[list[Round], float]:
    """The measured rounds, one after another into one receiver, and the warm-up's spans per
    CPU second (a fresh receiver's first spans)."""
    receiver = Receiver(tmp / "receiver")
    try:
        first = [(span_request(100, seed=-1).SerializeToString(), 100)]
        send(receiver.http_port, first, SendStats())
        receiver.wait_written(100, 60)
        settle(receiver, 0.0, 30.0)
        idle = idle_rate(receiver)
        cold = 0.0
        if warm:
            spans, cpu, _ = _timed_send(receiver, warm, senders)
            cold = spans / cpu
        settle(receiver, idle)
        done = []
        for bodies in rounds:
            spans, cpu, wall = _timed_send(receiver, bodies, senders)
            done.append(Round(spans, cpu, settle(receiver, idle), wall))
        return done, cold
    finally:
        receiver.stop()


def measure_limit(
    bodies: list[tuple[bytes, int]], tmp: Path, per_insert: int
) -> tuple[float, float, float]:
    """CPU seconds to parse the bodies, to insert their rows (rendered beforehand), and to
    merge the parts they made into one (what each later merge of those rows costs again)."""
    started = time.process_time()
    for body, _ in bodies:
        ExportTraceServiceRequest().ParseFromString(body)
    parse = time.process_time() - started
    blocks = []  # not timed: one Native block per segment's worth of requests
    for i in range(0, len(bodies), per_insert):
        path = tmp / f"limit-{i}.native"
        if not native_traces.write_native_traces([b for b, _ in bodies[i : i + per_insert]], path):
            raise SystemExit("the compiled trace encoder is not built: run scripts/venv.sh dev")
        blocks.append(path)
    warm = tmp / "limit-warm.native"
    native_traces.write_native_traces([span_request(500, seed=-2).SerializeToString()], warm)
    store = open_store(f"chdb://{tmp / 'limit'}")
    try:
        migrate(store, ttl_days=30)
        settings = insert_settings(store)
        insert_traces_native(store, warm, settings)
        store.command("SYSTEM STOP MERGES otel_traces")
        started = time.process_time()
        for path in blocks:
            insert_traces_native(store, path, settings)
        insert = time.process_time() - started
        store.command("SYSTEM START MERGES otel_traces")
        started = time.process_time()
        store.command("OPTIMIZE TABLE otel_traces FINAL")
        merge = time.process_time() - started
    finally:
        store.close()
    return parse, insert, merge


def _requests(count: int, spans: int, first_seed: int) -> list[tuple[bytes, int]]:
    # Distinct seeds: the store would drop a repeated block as a duplicate insert.
    return [
        (span_request(spans, seed=first_seed + i).SerializeToString(), spans) for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=120, help="requests in each round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (median shown)")
    parser.add_argument("--warm", type=int, default=120, help="requests sent before measuring")
    parser.add_argument("--spans", type=int, default=500)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    rounds = [_requests(args.requests, args.spans, r * 10**5) for r in range(args.rounds)]
    warm = _requests(args.warm, args.spans, 10**7)
    bodies = rounds[0]
    total = args.requests * args.spans
    with tempfile.TemporaryDirectory(prefix="tailsight-bench-") as tmp:
        done, cold = measure_receiver(warm, rounds, args.senders, Path(tmp))
        # The writer inserts one spool segment at a time (SEGMENT_BYTES, or what arrived in
        # SEGMENT_AGE_S): the limit inserts batches of that size too.
        per_insert = max(1, SEGMENT_BYTES // len(bodies[0][0]))
        parse, insert, merge = measure_limit(bodies, Path(tmp), per_insert)
    limit = total / (parse + insert)
    per_cpu = statistics.median(r.per_cpu for r in done)
    per_wall = statistics.median(r.spans / r.wall for r in done)
    all_in = sum(r.spans for r in done) / sum(r.cpu + r.merges for r in done)

    def each(values: list[float], fmt: str = ",.0f") -> str:
        return " / ".join(format(v, fmt) for v in values)

    print(
        f"ingest: {args.rounds} rounds of {total} spans in {args.requests} requests of"
        f" {args.spans} ({len(bodies[0][0]) / args.spans:.0f} B/span, 12 attributes,"
        f" 4 resources each), after a warm-up of {args.warm * args.spans} spans"
    )
    print(
        f"  receiver: {per_cpu:,.0f} spans/s per core (CPU time until written; median of"
        f" {each([r.per_cpu for r in done])}), {per_wall:,.0f} spans/s wall"
    )
    print(
        f"  all-in:   {all_in:,.0f} spans/s per core counting every round's CPU until the"
        f" receiver is idle again: the store's merges of the new parts"
        f" ({each([r.merges / r.spans * 1e6 for r in done], '.2f')} µs a span after each round)"
    )
    if warm:
        print(
            f"  cold:     {cold:,.0f} spans/s per core for the warm-up's spans (a fresh receiver)"
        )
    print(
        f"  limit:    {limit:,.0f} spans/s per core = parse-only {total / parse:,.0f}/s"
        f" + insert-only {total / insert:,.0f}/s of the same batches"
    )
    print(f"  ratio:    {per_cpu / limit:.2f} of parse + insert")
    print(
        f"  merge:    {merge / total * 1e6:.2f} µs a span for the store to merge those batches'"
        " parts into one, once (each later merge of the same rows costs about as much again)"
    )


if __name__ == "__main__":
    main()
