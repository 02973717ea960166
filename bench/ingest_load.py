"""Shared by the ingest benchmarks: a `tailsight up` receiver process and loopback senders."""

from __future__ import annotations

import http.client
import os
import re
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import UpProcess  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
HOSTILE: set[bytes] = set()  # hostile bodies that intake takes (soak.py --hostile)


class Receiver:
    """`tailsight up` on free loopback ports in its own process, with its CPU time readable."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.up = UpProcess(data_dir, *extra)
        self.spool = data_dir / "spool"
        self.api_port, self.http_port = self.up.api_port, self.up.otlp_http_port
        self.proc = self.up.proc
        try:
            self.up.wait_healthy(60)
        except AssertionError as exc:
            self.stop()
            raise SystemExit(f"the receiver did not become healthy: {exc}") from None

    @property
    def api(self) -> str:
        return self.up.api

    def cpu_seconds(self) -> float:
        """User + system CPU time of the receiver process (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def metric(self, name: str, **labels: str) -> float:
        with urllib.request.urlopen(self.api + "/metrics", timeout=5) as r:
            text = r.read().decode()
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
        m = re.search(pattern, text)
        return float(m.group(1)) if m else 0.0

    def rows_written(self) -> int:
        return int(self.metric("tailsight_ingest_rows_written_total", table="otel_traces"))

    def spool_holds_data(self) -> bool:
        """Whether acknowledged requests wait in the spool (a segment goes once its rows are in)."""
        try:
            return any(
                p.suffix == ".seg" or (p.suffix == ".open" and p.stat().st_size > 0)
                for p in self.spool.iterdir()
            )
        except FileNotFoundError:  # a segment went while we looked: look again
            return True

    def wait_written(self, n: int, timeout: float) -> bool:
        """Wait until ``n`` spans are in the store, once every sender has its answers.

        Watches the spool directory and asks ``/metrics`` only once it is empty: each answer
        costs the receiver ~0.45 ms of CPU, which polling every 50 ms added to the very CPU
        time the benchmarks measure.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.spool_holds_data():
                if self.rows_written() >= n:
                    return True
                time.sleep(0.2)
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        self.up.stop(60)


@dataclass
class SendStats:
    """What the senders saw."""

    ok_spans: int = 0
    ok: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    retry_after_missing: int = 0
    errors: int = 0
    poison: dict[str, int] = field(default_factory=dict)  # hostile bodies: "<status>" -> count
    lock: threading.Lock = field(default_factory=threading.Lock)


def send(
    port: int,
    bodies: list[tuple[bytes, int]],
    stats: SendStats,
    stop_at: float | None = None,
    pace_s: float = 0.0,
) -> None:
    """POST each (body, spans) once over one keep-alive connection; refused ones are counted, not retried.

    ``spans`` < 0 marks a hostile body (``soak.py --hostile``) that intake refuses (400);
    a hostile body intake takes carries the spans it will store.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/x-protobuf"}
    for body, spans in bodies:
        if stop_at is not None and time.monotonic() > stop_at:
            return
        started = time.monotonic()
        try:
            conn.request("POST", "/v1/traces", body=body, headers=headers)
            r = conn.getresponse()
            r.read()
        except OSError:
            with stats.lock:
                stats.errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        with stats.lock:
            if spans < 0 or body in HOSTILE:
                key = f"{r.status} ({'expected 400' if spans < 0 else 'expected 200'})"
                stats.poison[key] = stats.poison.get(key, 0) + 1
            if r.status == 200:
                stats.ok += 1
                stats.ok_spans += max(spans, 0)
            elif spans < 0 and r.status == 400:
                pass
            else:
                stats.refused[r.status] = stats.refused.get(r.status, 0) + 1
                if r.status in (429, 503) and not r.getheader("Retry-After"):
                    stats.retry_after_missing += 1
        if pace_s:
            time.sleep(max(0.0, pace_s - (time.monotonic() - started)))
