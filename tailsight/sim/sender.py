"""Sending simulated telemetry over OTLP/HTTP protobuf: backfill as fast as ingest allows, or live.

One keep-alive connection; ``429``/``503`` are retried after the receiver's
``Retry-After`` (that is how ingest says "slow down"), connection errors after a short
back-off, anything else is a :class:`SendError` naming the status and the receiver's
message. Loopback or wherever ``endpoint`` points: nothing else is contacted.
"""

from __future__ import annotations

import http.client
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from google.protobuf.message import Message

from tailsight.sim.scenario import Batch, Simulation

log = logging.getLogger(__name__)


class SendError(RuntimeError):
    """The receiver refused a request for good, or stayed unreachable."""


@dataclass
class SendStats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    spans: int = 0
    points: int = 0


class OtlpHttpSender:
    """POSTs OTLP protobuf requests to ``endpoint`` (``http://host:4318``)."""

    def __init__(
        self,
        endpoint: str,
        token: str | None = None,
        timeout_s: float = 30.0,
        give_up_s: float = 120.0,
    ) -> None:
        url = urlsplit(endpoint.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise SendError(f"endpoint {endpoint!r} is not an http(s)://host:port URL")
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._https else 80)
        self._prefix = url.path
        self._timeout = timeout_s
        self._give_up = give_up_s
        self._headers = {"Content-Type": "application/x-protobuf"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None
        self.stats = SendStats()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, path: str, message: Message) -> None:
        """POST one request; retries while the receiver asks to wait, up to ``give_up_s``."""
        body = message.SerializeToString()
        deadline = time.monotonic() + self._give_up
        # A receiver that refuses connections is down, not busy: stop sooner.
        unreachable_deadline = time.monotonic() + min(self._give_up, 15.0)
        backoff = 0.2
        while True:
            try:
                conn = self._connection()
                conn.request("POST", self._prefix + path, body, self._headers)
                resp = conn.getresponse()
                payload = resp.read()
                status = resp.status
                retry_after = resp.getheader("Retry-After")
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if time.monotonic() + backoff > unreachable_deadline:
                    raise SendError(f"{self._host}:{self._port} unreachable: {exc}") from None
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self.stats.retries += 1
                continue
            if status == 200:
                self.stats.requests += 1
                self.stats.bytes += len(body)
                return
            if status in (429, 503):
                wait = _retry_after(retry_after, backoff)
                if time.monotonic() + wait > deadline:
                    raise SendError(f"{path}: receiver still overloaded ({status}) after retries")
                time.sleep(wait)
                backoff = min(backoff * 2, 5.0)
                self.stats.retries += 1
                continue
            text = payload[:300].decode("utf-8", "replace")
            raise SendError(f"{path}: HTTP {status}: {text}")

    def send(self, batch: Batch) -> None:
        if batch.metrics is not None:
            self.post("/v1/metrics", batch.metrics)
            self.stats.points += batch.n_points
        if batch.spans is not None:
            self.post("/v1/traces", batch.spans)
            self.stats.spans += batch.n_spans


def _retry_after(value: str | None, default: float) -> float:
    try:
        return min(30.0, max(0.05, float(value))) if value else default
    except ValueError:
        return default


def backfill(
    sim: Simulation,
    sender: OtlpHttpSender,
    until: float,
    *,
    ticks_per_batch: int = 6,
    metric_every: int = 1,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Send the simulation's telemetry up to ``until`` as fast as the receiver takes it.

    A sending thread posts while this one simulates the next batch (the HTTP wait
    releases the GIL), so generation and ingest overlap; the queue is short to bound memory.
    """
    pending: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def drain() -> None:
        while (batch := pending.get()) is not None:
            if failure:
                continue
            try:
                sender.send(batch)
                if progress is not None:
                    progress(batch.t)
            except BaseException as exc:  # noqa: BLE001 - handed to the producer below
                failure.append(exc)

    worker = threading.Thread(target=drain, name="sim-sender", daemon=True)
    worker.start()
    try:
        for batch in sim.batches(until, ticks_per_batch, metric_every):
            if failure:
                break
            pending.put(batch)
    finally:
        pending.put(None)
        worker.join()
    if failure:
        raise failure[0]


def live(
    sim: Simulation,
    sender: OtlpHttpSender,
    *,
    stop: Callable[[], bool],
    on_tick: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send each tick when wall-clock time reaches its end, until ``stop()`` is true."""
    while not stop():
        due = sim.engine.t + sim.engine.dt
        now = clock()
        if now < due:
            sleep(min(due - now, 0.5))
            continue
        for batch in sim.batches(min(now, due), ticks_per_batch=1):
            sender.send(batch)
        if on_tick is not None:
            on_tick(sim.engine.t)
