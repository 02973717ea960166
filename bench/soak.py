"""Soak: offer ingest twice its measured capacity for ten minutes over loopback.

Checks the three promises of backpressure: the receiver's memory stays bounded, every
refused request gets 429/503 with ``Retry-After``, and every acknowledged span is in the
store exactly once at the end. Senders are paced (bounded rate, bounded duration) and talk
to 127.0.0.1 only. Prints RSS over time, acknowledged/refused counts and the store count.

    .venv/bin/python bench/soak.py [--minutes 10] [--capacity 36000] [--spool-mb 256]
        [--hostile]

``--capacity`` is the wall-clock spans/s `bench/ingest.py` measured on this machine; the
offered load is twice that (once that with ``--hostile``).

``--hostile`` (issue 20) mixes in what an attacker or a broken client sends: ~3% of the
requests are hostile bodies (``tests/pipeline/fuzz_mutants.py``: wrong wire types,
unknown groups, duplicate oneofs, boundary times, byte damage), and slow clients
(``bench/soak_hostile.py``) hold connections idle, with half their headers, or with a
chunked body that never ends. It checks that nothing acknowledged is lost or doubled,
that no spool segment jams (the spool drains and nothing is quarantined), that every
connection of the slow clients is closed by the server, and that ``/api/v1/health``
answers throughout and is honest (``ok`` unless something is wrong).
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
from soak_hostile import Hostile, poison_pool, receiver_health

from tests.pipeline.otlp_data import span_request

SPANS = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--capacity", type=float, default=36_000, help="measured spans/s (wall)")
    parser.add_argument("--spool-mb", type=int, default=256)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--hostile", action="store_true", help="poison bodies and slow clients")
    args = parser.parse_args()
    offered = (1 if args.hostile else 2) * args.capacity
    pace = args.senders * SPANS / offered  # seconds between requests of one sender
    pool = [span_request(SPANS, seed=i).SerializeToString() for i in range(64)]
    poison = poison_pool(400) if args.hostile else []
    with tempfile.TemporaryDirectory(prefix="tailsight-soak-") as tmp:
        data = Path(tmp) / "data"
        os.environ["TAILSIGHT_SPOOL_MAX_BYTES"] = str(args.spool_mb << 20)
        receiver = Receiver(data)
        stats = SendStats()
        stop_at = time.monotonic() + args.minutes * 60
        per_sender = int(args.minutes * 60 / pace) + 1  # bounded even if a sender runs fast
        bodies = [(pool[i % len(pool)], SPANS) for i in range(per_sender)]
        if poison:  # every 33rd request hostile: ~3%
            bodies = [poison[i % len(poison)] if i % 33 == 5 else b for i, b in enumerate(bodies)]
        hostile = Hostile(receiver.http_port, receiver.api_port, stop_at) if args.hostile else None
        threads = [
            threading.Thread(target=send, args=(receiver.http_port, bodies, stats, stop_at, pace))
            for _ in range(args.senders)
        ]
        started = time.monotonic()
        rss: list[tuple[float, int]] = []
        try:
            for t in threads:
                t.start()
            if hostile is not None:
                hostile.start()
            while any(t.is_alive() for t in threads):
                rss.append((time.monotonic() - started, receiver.rss_bytes()))
                time.sleep(5)
            for t in threads:
                t.join()
            sent_for = time.monotonic() - started
            if hostile is not None:
                hostile.join()
            drained = receiver.wait_written(stats.ok_spans, 600)
            quarantined = sorted(p.name for p in (receiver.spool / "quarantine").glob("*.pb"))
            health_after = receiver_health(receiver.api)
        finally:
            receiver.stop()
        client = clickhouse_connect.get_client(dsn=f"chdb://{data}", database="otel")
        try:
            stored = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
        finally:
            client.close()
    refused = sum(stats.refused.values())
    factor = 1 if args.hostile else 2
    print(
        f"soak{' (hostile)' if args.hostile else ''}: {args.minutes:g} min offering "
        f"{offered:,.0f} spans/s ({factor}x {args.capacity:,.0f})"
    )
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
    if hostile is not None:
        print(f"  hostile bodies: {stats.poison}")
        print(f"  {hostile.report()}")
        print(
            f"  jammed: spool drained {drained}, quarantined {len(quarantined)} {quarantined[:3]}; "
            f"health after: {health_after}"
        )


if __name__ == "__main__":
    main()
