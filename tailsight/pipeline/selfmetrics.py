"""The ingest pipeline's own counters and latencies, served as Prometheus text on ``/metrics``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

# Latency buckets in seconds: fsync'ed acknowledgements take milliseconds, inserts up to seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HELP = {
    "tailsight_ingest_requests_total": "OTLP export requests by signal, transport and outcome",
    "tailsight_ingest_items_accepted_total": "spans, data points and log records acknowledged",
    "tailsight_ingest_items_refused_total": "items refused (malformed, too large, unauthorized, overloaded)",
    "tailsight_ingest_items_spooled_total": "items made durable in the spool",
    "tailsight_ingest_rows_written_total": "rows inserted into the store, by table",
    "tailsight_ingest_insert_errors_total": "failed inserts of a spool segment (retried)",
    "tailsight_ingest_request_seconds": "time from request to acknowledgement",
    "tailsight_ingest_insert_seconds": "time to insert one spool segment",
    "tailsight_ingest_spool_bytes": "bytes held in the spool",
    "tailsight_ingest_spool_segments": "sealed spool segments waiting for the writer",
    "tailsight_scrape_total": "Prometheus scrapes by job and outcome (ok, failed, dropped)",
    "tailsight_scrape_samples_total": "samples of successful Prometheus scrapes, by job",
}


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        i = 0
        while i < len(BUCKETS) and value > BUCKETS[i]:
            i += 1
        self.counts[i] += 1
        self.total += value
        self.n += 1


Labels = tuple[tuple[str, str], ...]


class IngestMetrics:
    """Counters, histograms and gauges of one ingest pipeline; safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}
        self._histograms: dict[tuple[str, Labels], _Histogram] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + value

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._histograms.setdefault(key, _Histogram()).observe(seconds)

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self._gauges[name] = read

    def value(self, name: str, **labels: str) -> float:
        """A counter's value (0 when never incremented); for tests and the bench."""
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0)

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        lines: list[str] = []
        with self._lock:
            counters = sorted(self._counters.items())
            histograms = sorted(self._histograms.items(), key=lambda kv: kv[0])
        seen: set[str] = set()

        def head(name: str, kind: str) -> None:
            if name not in seen:
                seen.add(name)
                lines.append(f"# HELP {name} {HELP.get(name, name)}")
                lines.append(f"# TYPE {name} {kind}")

        for (name, labels), value in counters:
            head(name, "counter")
            lines.append(f"{name}{_labels(labels)} {_number(value)}")
        for (name, labels), hist in histograms:
            head(name, "histogram")
            cumulative = 0
            for bound, count in zip((*BUCKETS, float("inf")), hist.counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f"{name}_bucket{_labels(labels + (('le', le),))} {cumulative}")
            lines.append(f"{name}_sum{_labels(labels)} {hist.total:.6f}")
            lines.append(f"{name}_count{_labels(labels)} {hist.n}")
        for name, read in sorted(self._gauges.items()):
            head(name, "gauge")
            lines.append(f"{name} {_number(read())}")
        return "\n".join(lines) + "\n"

    def route(self) -> Route:
        """``GET /metrics`` for the API port."""

        async def metrics(_: Request) -> PlainTextResponse:
            return PlainTextResponse(self.render(), media_type="text/plain; version=0.0.4")

        return Route("/metrics", metrics, methods=["GET"])


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    body = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + body + "}"


def _number(value: float) -> str:
    """A sample value, exact: ``{:g}`` kept 6 digits (8,154,963 rows read 8.15496e+06)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
