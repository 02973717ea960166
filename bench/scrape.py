"""Prometheus ingest: samples per CPU-second of scraping and of remote write, beside their limits.

Payload: dcgm-exporter's /metrics of 8 H100s (27 fields of ``dcp-metrics-included.csv``,
its labels; ``tests/pipeline/prom_fixtures/make_fixtures.py``), one per target, each with
its own ``Hostname``; 1,000 targets.

1. **Scrape.** A `tailsight up` (embedded store, fresh data directory) scrapes 1,000
   targets (file_sd, one job, ``--interval``) from a loopback HTTP server in this process
   for ``--rounds`` rounds. Figure: samples scraped and stored / CPU seconds of the
   receiver process (all threads, the store engine's included) from its first scrape
   until every round is in the store. Stored means the original series plus the mapped
   CONTRACT names (docs/prometheus.md), as in service.
   Beside it, **parse-only**: CPU seconds of prometheus_client's text parser over the same
   payloads in this process (the floor of any Python scraper), and parse + convert (to the
   OTLP request, mapping included). ratio = figure / parse-only.
2. **Remote write.** The same samples as Prometheus sends them (``WriteRequest`` of 2,000
   samples, snappy) POSTed to ``/api/v1/write`` of a fresh receiver; beside it the same
   samples as OTLP metrics requests (converted beforehand, ~2,000 points each) POSTed to
   ``/v1/metrics`` of another fresh receiver. ratio = remote write / OTLP.

    .venv/bin/python bench/scrape.py [--targets 1000] [--rounds 2] [--interval 10]
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cramjam
import yaml
from ingest_load import Receiver

from tailsight.pipeline.prom_convert import StartTimes
from tailsight.pipeline.prom_otlp import RequestBuilder
from tailsight.pipeline.prom_remote_pb import WriteRequest
from tailsight.pipeline.prom_scrape import convert_scrape, exposition_samples
from tailsight.pipeline.prom_semantic import SemanticMapping
from tests.pipeline.prom_fixtures.make_fixtures import dcgm_payload

TEXT = "text/plain; version=0.0.4"


def payloads(targets: int) -> list[list[bytes]]:
    """Two snapshots per target (alternated by the server, so rates have pairs)."""
    return [[dcgm_payload(f"gpu-node-{i:04d}", s, seed=i % 97).encode() for s in (1, 2)]
            for i in range(targets)]  # fmt: skip


def parse_only(pages: list[list[bytes]]) -> tuple[int, float, float]:
    """(samples, CPU s of parsing, CPU s of parse + convert to OTLP with the mapping)."""
    t0 = time.process_time()
    n = 0
    for i, page in enumerate(pages):
        _, samples = exposition_samples(page[0].decode(), TEXT, {"job": "dcgm", "instance": f"n{i}"}, 0)
        n += len(samples)
    parse = time.process_time() - t0
    mapping, starts = SemanticMapping(), StartTimes()
    t0 = time.process_time()
    for i, page in enumerate(pages):
        builder = RequestBuilder()
        emitter = mapping.wrap(builder)
        kinds, samples = exposition_samples(page[0].decode(), TEXT, {"job": "dcgm", "instance": f"n{i}"}, 0)
        convert_scrape(kinds, samples, emitter, starts, "http")
        emitter.flush()
        builder.request().SerializeToString()
    return n, parse, time.process_time() - t0


class _Server(ThreadingHTTPServer):
    """Serves each target's page until ``want`` scrapes were answered, then 404 (cheap failures)."""

    daemon_threads = True
    pages: list[list[bytes]]
    want = 0
    served = 0
    lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the receiver closing its connections at the end


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802
        i = int(self.path.rsplit("/", 1)[1])
        with self.server.lock:
            n = self.server.served = self.server.served + 1
        if n > self.server.want:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.server.pages[i][(n // len(self.server.pages)) % 2]
        self.send_response(200)
        self.send_header("Content-Type", TEXT)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def wait_drained(receiver: Receiver, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while receiver.spool_holds_data() and time.monotonic() < deadline:
        time.sleep(0.05)


def bench_scrape(pages: list[list[bytes]], rounds: int, interval: int, tmp: Path) -> tuple[float, int, int]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.pages = pages
    server.want = len(pages) * rounds
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    groups = [{"targets": [address], "labels": {"__metrics_path__": f"/t/{i}", "instance": f"gpu-node-{i:04d}:9400"}}
              for i in range(len(pages))]  # fmt: skip
    (tmp / "targets.yaml").write_text(yaml.safe_dump(groups))
    config = tmp / "tailsight.yaml"
    config.write_text(yaml.safe_dump({"scrape_configs": [{
        "job_name": "dcgm", "scrape_interval": f"{interval}s", "scrape_timeout": f"{interval}s",
        "file_sd_configs": [{"files": [str(tmp / "targets.yaml")]}]}]}))  # fmt: skip
    receiver = Receiver(tmp / "scrape", "--config", str(config))
    try:
        cpu0 = receiver.cpu_seconds()
        deadline = time.monotonic() + interval * (rounds + 2) + 900
        done = 0.0
        while time.monotonic() < deadline:
            if server.served >= server.want:
                try:
                    done = sum(receiver.metric("tailsight_scrape_total", job="dcgm", outcome=o)
                               for o in ("ok", "failed", "dropped"))  # fmt: skip
                except OSError:  # a receiver short of CPU answers late: ask again
                    continue
                if done >= server.want and not receiver.spool_holds_data():
                    break
            time.sleep(0.5)
        else:
            raise SystemExit(f"only {done:.0f} of {server.want} scrapes finished in time")
        cpu = receiver.cpu_seconds() - cpu0
        samples = receiver.metric("tailsight_scrape_samples_total", job="dcgm")
        failed = receiver.metric("tailsight_scrape_total", job="dcgm", outcome="failed")
        return cpu, int(samples), int(failed)
    finally:
        receiver.stop()
        server.shutdown()


def write_requests(pages: list[list[bytes]], per_request: int = 2000) -> tuple[list[bytes], int]:
    """The samples as Prometheus' remote write sends them, snappy-compressed; (bodies, samples)."""
    bodies, req, n, total = [], WriteRequest(), 0, 0
    now_ms = int(time.time() * 1000)
    for i, page in enumerate(pages):
        _, samples = exposition_samples(page[0].decode(), TEXT,
                                        {"job": "dcgm", "instance": f"gpu-node-{i:04d}:9400"}, now_ms)
        for name, labels, ts_ms, value in samples:
            series = req.timeseries.add()
            series.labels.add(name="__name__", value=name)
            for k, v in sorted(labels.items()):
                series.labels.add(name=k, value=v)
            series.samples.add(value=value, timestamp=ts_ms)
            n += 1
            total += 1
            if n == per_request:
                bodies.append(bytes(cramjam.snappy.compress_raw(req.SerializeToString())))
                req, n = WriteRequest(), 0
    if n:
        bodies.append(bytes(cramjam.snappy.compress_raw(req.SerializeToString())))
    return bodies, total


def otlp_requests(pages: list[list[bytes]], per_request: int = 2000) -> list[bytes]:
    """The same samples as OTLP metrics requests (converted as scrape stores them, unmapped)."""
    bodies, builder, starts = [], RequestBuilder(), StartTimes()
    now_ms = int(time.time() * 1000)
    for i, page in enumerate(pages):
        kinds, samples = exposition_samples(page[0].decode(), TEXT,
                                            {"job": "dcgm", "instance": f"gpu-node-{i:04d}:9400"}, now_ms)
        convert_scrape(kinds, samples, builder, starts, "http")
        if builder.points >= per_request:
            bodies.append(builder.request().SerializeToString())
            builder = RequestBuilder()
    if builder.points:
        bodies.append(builder.request().SerializeToString())
    return bodies


def post_all(port: int, path: str, bodies: list[bytes], headers: dict[str, str], senders: int = 2) -> int:
    failures = [0]

    def run(part: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for body in part:
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status not in (200, 204):
                failures[0] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(bodies[i::senders],)) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures[0]


def bench_push(tmp: Path, name: str, bodies: list[bytes], api: bool, path: str, headers: dict[str, str]) -> float:
    receiver = Receiver(tmp / name)
    try:
        port = receiver.api_port if api else receiver.http_port
        cpu0 = receiver.cpu_seconds()
        failed = post_all(port, path, bodies, headers)
        wait_drained(receiver)
        if failed:
            raise SystemExit(f"{name}: {failed} requests refused")
        return receiver.cpu_seconds() - cpu0
    finally:
        receiver.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--interval", type=int, default=10)
    args = parser.parse_args()
    pages = payloads(args.targets)
    samples, parse, convert = parse_only(pages)  # over all targets, one round
    print(f"payload: {args.targets} targets x {samples // args.targets} samples "
          f"({len(pages[0][0]):,} bytes each)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        cpu, scraped, failed = bench_scrape(pages, args.rounds, args.interval, Path(tmp))
        figure = scraped / cpu
        rw_bodies, rw_samples = write_requests(pages)
        rw_cpu = bench_push(Path(tmp), "rw", rw_bodies, True, "/api/v1/write",
                            {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"})
        otlp_cpu = bench_push(Path(tmp), "otlp", otlp_requests(pages), False, "/v1/metrics",
                              {"Content-Type": "application/x-protobuf"})
    print(f"scrape + store: {figure:,.0f} samples/CPU-s ({scraped:,} samples stored "
          f"in {args.targets * args.rounds} scrapes; {failed} failed: 404s past the measured "
          f"rounds or timeouts; {cpu:.1f} CPU s)")
    print(f"  parse-only:   {samples / parse:,.0f} samples/CPU-s; parse + convert {samples / convert:,.0f}")
    print(f"  ratio:        {figure / (samples / parse):.2f} of parse-only")
    rw, otlp = rw_samples / rw_cpu, rw_samples / otlp_cpu
    print(f"remote write:   {rw:,.0f} samples/CPU-s ({len(rw_bodies)} requests of <= 2,000 samples)")
    print(f"  OTLP metrics: {otlp:,.0f} samples/CPU-s (same samples, ~2,000 points a request)")
    print(f"  ratio:        {rw / otlp:.2f} of OTLP")


if __name__ == "__main__":
    main()
