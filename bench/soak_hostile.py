"""The hostile part of ``soak.py --hostile``: poison bodies, slow clients and a health watch."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

from ingest_load import HOSTILE
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tailsight.pipeline.intake import admit
from tailsight.pipeline.limits import Refused
from tests.pipeline.fuzz_mutants import mutants

DAY_NS = 86400 * 10**9


def poison_pool(n: int) -> list[tuple[bytes, int]]:
    """``n`` hostile trace bodies, each with the spans intake will store (-1: it refuses them).

    Taken bodies are kept only when every span lies within the store's TTL (the soak
    counts stored spans; an old span would be dropped by the TTL, not lost).
    """
    now = time.time_ns()
    out: list[tuple[bytes, int]] = []
    for m in mutants(n * 20, seed=77):
        if m.signal.name != "traces" or m.is_json or m.gzipped:
            continue
        try:
            payload, items, rejected, _ = admit(m.signal, m.body, False)
        except Refused:
            out.append((m.body, -1))
        else:
            req = ExportTraceServiceRequest()
            req.ParseFromString(payload)
            starts = [
                s.start_time_unix_nano
                for rs in req.resource_spans
                for ss in rs.scope_spans
                for s in ss.spans
            ]
            if all(now - 20 * DAY_NS < t < now + 365 * DAY_NS for t in starts):
                HOSTILE.add(m.body)
                out.append((m.body, items - rejected))
        if len(out) >= n:
            break
    return out


def receiver_health(api: str) -> str:
    try:
        with urllib.request.urlopen(api + "/api/v1/health", timeout=5) as r:
            return f"{r.status} {json.loads(r.read())}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read()[:200]!r}"
    except OSError as exc:
        return f"no answer ({exc})"


class Hostile:
    """Slow clients on the OTLP/HTTP and API ports, and a watch on health, until ``stop_at``."""

    KINDS = ("idle", "half-headers", "endless-chunked", "slowloris")

    def __init__(self, http_port: int, api_port: int, stop_at: float, clients: int = 48) -> None:
        self.ports = (http_port, api_port)
        self.api = f"http://127.0.0.1:{api_port}"
        self.stop_at = stop_at
        self.clients = clients
        self.closed: Counter[str] = Counter()  # connections the server closed, by kind
        self.held_max: dict[str, float] = {}
        self.still_open = 0
        self.health: Counter[str] = Counter()
        self.health_slowest = 0.0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.clients):
            kind = self.KINDS[i % len(self.KINDS)]
            port = self.ports[i % 2]
            t = threading.Thread(target=self._client, args=(kind, port), daemon=True)
            self._threads.append(t)
            t.start()
        watch = threading.Thread(target=self._watch, daemon=True)
        self._threads.append(watch)
        watch.start()

    def join(self) -> None:
        for t in self._threads:
            t.join(120)

    def _client(self, kind: str, port: int) -> None:
        while time.monotonic() < self.stop_at:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            opened = time.monotonic()
            sock.settimeout(1.0)
            try:
                if kind == "half-headers":
                    sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Ty")
                elif kind == "endless-chunked":
                    sock.sendall(
                        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/x-protobuf\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n1\r\n\n\r\n"
                    )
                closed = self._until_closed(sock, kind, opened)
            finally:
                sock.close()
            with self._lock:
                if closed:
                    self.closed[kind] += 1
                    held = time.monotonic() - opened
                    self.held_max[kind] = max(self.held_max.get(kind, 0.0), held)
                else:
                    self.still_open += 1

    def _until_closed(self, sock: socket.socket, kind: str, opened: float) -> bool:
        """Wait (up to 5 min) for the server to close; slowloris sends a header byte a second."""
        while time.monotonic() - opened < 300:
            if kind == "slowloris":
                try:
                    sock.sendall(b"X" if time.monotonic() - opened > 0.5 else b"GET / HTTP/1.1\r\n")
                except OSError:
                    return True
            try:
                if sock.recv(4096) == b"":
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
        return False

    def _watch(self) -> None:
        while time.monotonic() < self.stop_at:
            started = time.monotonic()
            answer = receiver_health(self.api)
            took = time.monotonic() - started
            with self._lock:
                self.health[answer[:120]] += 1
                self.health_slowest = max(self.health_slowest, took)
            time.sleep(5)

    def report(self) -> str:
        held = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(self.held_max.items()))
        return (
            f"slow clients: {sum(self.closed.values())} connections closed by the server "
            f"{dict(self.closed)}, longest held {held}; left open after 5 min: {self.still_open}\n"
            f"  health every 5 s: {dict(self.health)}; slowest answer {self.health_slowest:.2f}s"
        )
