"""What both receivers do with a request: parse, check, spool, answer.

The HTTP and gRPC receivers only move bytes and map :class:`~tailsight.pipeline.limits.Refused`
to their transport; everything that decides whether a request is taken lives here.
"""

from __future__ import annotations

import time

import grpc

from tailsight.pipeline.limits import Limits, Refused, malformed, too_large
from tailsight.pipeline.native_traces import count_spans
from tailsight.pipeline.selfmetrics import IngestMetrics
from tailsight.pipeline.signals import InvalidRequest, Signal, parse_body
from tailsight.pipeline.spool import Spool, SpoolFull
from tailsight.pipeline.writer import SpoolWriter


def admit(signal: Signal, body: bytes, is_json: bool) -> tuple[bytes, int, int, int]:
    """(payload to spool, items, items rejected, items fixed) of one request, or :class:`Refused` (400).

    Everything that decides whether the store will take a request is here (the fuzz
    suite replays what this admits through the writer).
    """
    counted = count_spans(body) if signal.name == "traces" and not is_json else None
    if counted is not None:  # plainly well formed: counted without building it in upb
        return body, counted[0], counted[1], 0
    try:
        msg = parse_body(signal, body, is_json)
        items, rejected = signal.check(msg)
        fixed = signal.fix(msg)
    except InvalidRequest as exc:
        raise malformed(str(exc)) from None
    if signal.name == "traces":
        # Spooled in upb's canonical form (unknown fields, fields of another wire type
        # and repeated oneof members dropped), so the compiled encoder, the store's
        # protobuf parser and upb all read it alike.
        msg.DiscardUnknownFields()
        return msg.SerializeToString(), items, rejected, fixed
    payload = msg.SerializeToString() if is_json or fixed else body
    return payload, items, rejected, fixed


class Intake:
    """Takes OTLP requests into the spool for one pipeline."""

    def __init__(
        self,
        spool: Spool,
        writer: SpoolWriter,
        metrics: IngestMetrics,
        limits: Limits,
        token: str | None = None,
    ) -> None:
        self.spool = spool
        self.writer = writer
        self.metrics = metrics
        self.limits = limits
        self.token = token

    def overloaded(self) -> Refused:
        """429 while the writer keeps up with the store but not with the load, 503 while the store fails."""
        if self.writer.store_failing:
            return Refused(
                503,
                grpc.StatusCode.UNAVAILABLE,
                "the store is unavailable and the spool is full",
                self.limits.retry_after_s,
            )
        return Refused(
            429,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "ingest is overloaded: the spool is full",
            self.limits.retry_after_s,
        )

    async def accept(self, signal: Signal, body: bytes, is_json: bool, transport: str) -> bytes:
        """Spool one request's body and return the protobuf ``Export*ServiceResponse``."""
        started = time.monotonic()
        try:
            if self.spool.full():
                raise self.overloaded()
            payload, items, rejected, fixed = admit(signal, body, is_json)
        except Refused as exc:
            self._refused(signal, transport, exc)
            raise
        await self.spool_request(signal, payload, items, transport, rejected, started)
        if fixed:
            self.metrics.inc(
                "tailsight_ingest_items_fixed_total",
                fixed,
                signal=signal.name,
                reason="end_before_start",
            )
        notes = [f"{rejected} spans without a trace or span id"] if rejected else []
        if fixed:
            notes.append(f"{fixed} spans ended before they started: stored with duration 0")
        return signal.response_bytes(rejected, "; ".join(notes))

    def _refused(self, signal: Signal, transport: str, exc: Refused) -> None:
        self.metrics.inc(
            "tailsight_ingest_requests_total",
            signal=signal.name,
            transport=transport,
            outcome=exc.reason,
        )

    async def spool_request(
        self,
        signal: Signal,
        payload: bytes,
        items: int,
        transport: str,
        rejected: int = 0,
        started: float | None = None,
    ) -> None:
        """Make one well-formed request durable (fsync'ed) or raise :class:`Refused`.

        Converting receivers (Prometheus remote write and scrape) hand their OTLP request
        here, so they get the same limits, backpressure and counters as OTLP itself.
        """
        started = time.monotonic() if started is None else started
        try:
            if items > self.limits.max_items:
                raise too_large(
                    f"{items} {signal.name} items in one request; the limit is {self.limits.max_items}"
                )
            if self.spool.full():
                raise self.overloaded()
            try:
                await self.spool.append(signal.code, payload, items - rejected)
            except SpoolFull:
                raise self.overloaded() from None
            except OSError as exc:  # the spool's disk failed: nothing was acknowledged
                raise Refused(
                    503, grpc.StatusCode.UNAVAILABLE, f"spool write failed: {exc}", 5
                ) from None
        except Refused as exc:
            self._refused(signal, transport, exc)
            raise
        accepted = items - rejected
        self.metrics.inc(
            "tailsight_ingest_requests_total", signal=signal.name, transport=transport, outcome="ok"
        )
        self.metrics.inc("tailsight_ingest_items_accepted_total", accepted, signal=signal.name)
        self.metrics.inc("tailsight_ingest_items_spooled_total", items, signal=signal.name)
        if rejected:
            self.metrics.inc(
                "tailsight_ingest_items_refused_total",
                rejected,
                signal=signal.name,
                reason="invalid",
            )
        self.metrics.observe(
            "tailsight_ingest_request_seconds", time.monotonic() - started, signal=signal.name
        )
