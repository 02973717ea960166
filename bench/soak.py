"""Soak: offer ingest twice its measured capacity for ten minutes over loopback.

Checks the three promises of backpressure: the receiver's memory stays bounded, every
refused request gets 429/503 with ``Retry-After``, and every acknowledged span is in the
store exactly once at the end. Senders are paced (bounded rate, bounded duration) and talk
to 127.0.0.1 only. Prints RSS over time, acknowledged/refused counts and the store count.

    .venv/bin/python bench/soak.py [--minutes 10] [--capacity 36000] [--spool-mb 256]

``--capacity`` is the wall-clock spans/s `bench/ingest.py` measured on this machine; the
offered load is twice that.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import clickhouse_connect
from ingest_load import Receiver, SendStats, send

from tests.pipeline.otlp_data import span_request

SPANS = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--capacity", type=float, default=36_000, help="measured spans/s (wall)")
    parser.add_argument("--spool-mb", type=int, default=256)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    offered = 2 * args.capacity
    pace = args.senders * SPANS / offered  # seconds between requests of one sender
    pool = [span_request(SPANS, seed=i).SerializeToString() for i in range(64)]
    with tempfile.TemporaryDirectory(prefix="tailsight-soak-") as tmp:
        data = Path(tmp) / "data"
        os.environ["TAILSIGHT_SPOOL_MAX_BYTES"] = str(args.spool_mb << 20)
        receiver = Receiver(data)
        stats = SendStats()
        stop_at = time.monotonic() + args.minutes * 60
        per_sender = int(args.minutes * 60 / pace) + 1  # bounded even if a sender runs fast
        bodies = [(pool[i % len(pool)], SPANS) for i in range(per_sender)]
        threads = [
            threading.Thread(target=send, args=(receiver.http_port, bodies, stats, stop_at, pace))
            for _ in range(args.senders)
        ]
        started = time.monotonic()
        rss: list[tuple[float, int]] = []
        try:
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                rss.append((time.monotonic() - started, receiver.rss_bytes()))
                time.sleep(5)
            for t in threads:
                t.join()
            sent_for = time.monotonic() - started
            drained = receiver.wait_written(stats.ok_spans, 600)
        finally:
            receiver.stop()
        client = clickhouse_connect.get_client(dsn=f"chdb://{data}", database="otel")
        try:
            stored = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
        finally:
            client.close()
    refused = sum(stats.refused.values())
    print(f"soak: {args.minutes:g} min offering {offered:,.0f} spans/s (2x {args.capacity:,.0f})")
    print(
        f"  acknowledged {stats.ok} requests ({stats.ok_spans:,} spans, "
        f"{stats.ok_spans / sent_for:,.0f}/s), refused {refused} {stats.refused}, "
        f"refused without Retry-After {stats.retry_after_missing}, connection errors {stats.errors}"
    )
    minute = [r for t, r in rss if t <= 60] or [0]
    print(
        f"  receiver RSS: max {max(r for _, r in rss) / 2**20:.0f} MiB, first minute max "
        f"{max(minute) / 2**20:.0f} MiB, last {rss[-1][1] / 2**20:.0f} MiB; "
        f"samples every 5 s: {' '.join(f'{r / 2**20:.0f}' for _, r in rss[::12])}"
    )
    lost = stats.ok_spans - stored
    print(
        f"  stored {stored:,} spans after the drain (drained in time: {drained}); "
        f"acknowledged but missing: {max(lost, 0)}, extra: {max(-lost, 0)}"
    )


if __name__ == "__main__":
    main()
