"""Sizing inputs: points and spans per receiver core, and bytes per row on disk after compression.

The demo fleet's telemetry over ``--hours`` of simulated time (the simulator's full
resolution, as ``sim_backfill.py``) is serialized first, then sent over OTLP/HTTP
protobuf to a `tailsight up` on a fresh embedded store: all metric requests, then all
span requests. For each phase the figure is rows per CPU second of the receiver process
(every thread, the store engine's included), counted from the first request until the
spool is empty and the process is back at its idle rate (so its merges are in). Then the
store is optimized (``OPTIMIZE … FINAL``: parts merged as they end up in service) and
``system.parts`` gives bytes on disk per row of each table, and per span and per point
with the tables each one also feeds (the trace-id lookup, the rollups).

The limit of each phase, measured in the same run: parsing the same requests with upb
(``ParseFromString``) in this process; ratio = figure / limit. docs/sizing.md uses the
figures.

    .venv/bin/python bench/store_footprint.py [--hours 1]
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
import time
from pathlib import Path

from ingest_load import Receiver
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tailsight.sim.demo import FINE, demo_scenario
from tailsight.sim.scenario import Simulation
from tailsight.storage import open_store

SPAN_TABLES = ("otel_traces", "otel_traces_trace_id_ts", "tailsight_latency_10s")
POINT_TABLES = (
    "otel_metrics_gauge",
    "otel_metrics_sum",
    "otel_metrics_histogram",
    "tailsight_metrics_10s",
)


def generate(hours: float, now: float) -> tuple[list[bytes], list[bytes], int, int]:
    scenario = demo_scenario(now, history_s=hours * 3600, fine_s=hours * 3600)
    sim = Simulation(scenario)
    sim.set_sampling(FINE.spans_per_window)
    metrics: list[bytes] = []
    spans: list[bytes] = []
    n_spans = 0
    for batch in sim.batches(now, ticks_per_batch=12, metric_every=FINE.metric_every):
        if batch.metrics is not None:
            metrics.append(batch.metrics.SerializeToString())
        if batch.spans is not None:
            spans.append(batch.spans.SerializeToString())
            n_spans += sum(
                len(ss.spans) for rs in batch.spans.resource_spans for ss in rs.scope_spans
            )
    return metrics, spans, sim.points_sent, n_spans


def parse_seconds(bodies: list[bytes], message: type) -> float:
    started = time.process_time()
    for body in bodies:
        message().ParseFromString(body)
    return time.process_time() - started


def idle_rate(receiver: Receiver, seconds: float = 2.0) -> float:
    c0, t0 = receiver.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (receiver.cpu_seconds() - c0) / (time.monotonic() - t0)


def send_phase(receiver: Receiver, path: str, bodies: list[bytes], idle: float) -> float:
    """Receiver CPU seconds for ``bodies`` until written and settled, its idle rate removed."""
    c0, t0 = receiver.cpu_seconds(), time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=60)
    headers = {"Content-Type": "application/x-protobuf"}
    for body in bodies:
        while True:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                break
            if response.status not in (429, 503):
                raise SystemExit(f"{path}: HTTP {response.status}")
            time.sleep(float(response.getheader("Retry-After") or 1))
    conn.close()
    while receiver.spool_holds_data():
        time.sleep(0.1)
    while True:  # merges: until a second passes at no more than twice the idle rate
        c1, t1 = receiver.cpu_seconds(), time.monotonic()
        time.sleep(1.0)
        if (receiver.cpu_seconds() - c1) / (time.monotonic() - t1) <= 2 * idle + 0.02:
            break
    return receiver.cpu_seconds() - c0 - idle * (time.monotonic() - t0)


def footprint(data_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Per table: rows, bytes on disk and uncompressed bytes of its active parts, fully merged."""
    store = open_store(f"chdb://{data_dir}")
    try:
        for table in store.tables():
            if not table.endswith("_mv") and table.startswith(("otel_", "tailsight_")):
                store.command(f"OPTIMIZE TABLE {table} FINAL")
        rows = store.rows(
            "SELECT table, sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes) "
            "FROM system.parts WHERE database = {db:String} AND active GROUP BY table",
            {"db": store.database},
        )
    finally:
        store.close()
    return {str(t): (int(r), int(b), int(u)) for t, r, b, u in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    now = float(int(time.time()) // 10 * 10)
    metrics, spans, n_points, n_spans = generate(args.hours, now)
    limits = (
        n_points / parse_seconds(metrics, ExportMetricsServiceRequest),
        n_spans / parse_seconds(spans, ExportTraceServiceRequest),
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        receiver = Receiver(data)
        try:
            idle = idle_rate(receiver)
            point_cpu = send_phase(receiver, "/v1/metrics", metrics, idle)
            span_cpu = send_phase(receiver, "/v1/traces", spans, idle)
        finally:
            receiver.stop()
        parts = footprint(data)
    per_core = (n_points / point_cpu, n_spans / span_cpu)
    for label, figure, limit in zip(("points", "spans"), per_core, limits, strict=True):
        print(
            f"{label}/s per receiver core (embedded store, merges in): {figure:,.0f}; "
            f"upb parse only {limit:,.0f}; ratio {figure / limit:.3f}"
        )
    print(f"{n_points:,} points and {n_spans:,} spans ({args.hours:g} h of the demo fleet)")
    print("table: rows, bytes on disk per row (uncompressed per row)")
    for table, (rows, disk, raw) in sorted(parts.items()):
        if rows:
            print(f"  {table}: {rows:,}, {disk / rows:.1f} B ({raw / rows:.1f} B)")
    for label, tables, n in (("span", SPAN_TABLES, n_spans), ("point", POINT_TABLES, n_points)):
        disk = sum(parts.get(t, (0, 0, 0))[1] for t in tables)
        print(f"bytes on disk per {label} with {', '.join(tables)}: {disk / n:.1f}")


if __name__ == "__main__":
    main()
