"""Prometheus remote-write 1.0 receiver: ``POST /api/v1/write`` on the API port (CONTRACT §1).

A request is a snappy-compressed (block format) ``prometheus.WriteRequest``. It is
converted into one OTLP ``ExportMetricsServiceRequest`` (``prom_convert``) and handed to
the same :class:`~tailsight.pipeline.intake.Intake` as OTLP, so it is fsync'ed in the
spool before the ``204``, refused with ``429``/``503`` + ``Retry-After`` when the spool is
full, ``413`` when too big, ``400`` with a one-line reason when malformed, ``401`` without
the bearer token.

Histogram and summary pieces whose siblings are in another request (Prometheus shards
series across its queues) are held, up to ``hold_s``, in a file beside the spool that is
rewritten and fsync'ed before the answer, so an acknowledged piece survives a crash. A
group whose pieces never all arrive is stored as it is once ``hold_s`` has passed.

Snappy: ``cramjam`` (Rust bindings, wheels for every platform, maintained; python-snappy
0.7 itself now wraps cramjam), whose ``decompress_raw`` reads the block format Prometheus
sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cramjam
from google.protobuf.message import DecodeError
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from tailsight.pipeline.intake import Intake
from tailsight.pipeline.limits import Refused, check_token, malformed, too_large
from tailsight.pipeline.otlp_http import TEXT, Answer, Disconnected, read_body, respond
from tailsight.pipeline.prom_convert import Assembler, Group, StartTimes
from tailsight.pipeline.prom_otlp import Emitter, RequestBuilder
from tailsight.pipeline.prom_remote_pb import METRIC_TYPES, WriteRequest
from tailsight.pipeline.signals import SIGNALS

log = logging.getLogger(__name__)

METRICS = next(s for s in SIGNALS if s.name == "metrics")
PATH = "/api/v1/write"
EmitterFactory = Callable[[RequestBuilder], Emitter]


def snappy_length(body: bytes) -> int:
    """The uncompressed length a snappy block declares (its leading varint)."""
    n = shift = 0
    for i, byte in enumerate(body[:10]):
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return n
        shift += 7
        if i == 9:
            break
    raise malformed("body is not snappy-compressed: no length header")


def decode_write_request(body: bytes, max_decompressed: int) -> Any:
    """The ``WriteRequest`` in a snappy body, or :class:`Refused` (400/413) saying why not."""
    declared = snappy_length(body)
    if declared > max_decompressed:
        raise too_large(f"body decompresses to {declared} bytes; the limit is {max_decompressed}")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise malformed(f"body is not snappy-compressed (block format): {exc}") from None
    req = WriteRequest()
    try:
        req.ParseFromString(raw)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise malformed(f"body is not a valid prometheus.WriteRequest protobuf: {exc}") from None
    return req


def _identity(builder: RequestBuilder) -> Emitter:
    return builder


class RemoteWriteReceiver:
    """``POST /api/v1/write``: a :class:`~tailsight.app.component.Component` of ``tailsight up``."""

    name = "prometheus-remote-write"

    def __init__(
        self,
        intake: Intake,
        pending_path: Path,
        hold_s: float = 30.0,
        emitter: EmitterFactory = _identity,
    ) -> None:
        self.intake = intake
        self.pending_path = pending_path
        self.hold_s = hold_s
        self.emitter = emitter
        self.metadata: dict[str, str] = {}  # family -> type, from metadata and series shapes
        self.assembler = Assembler(self.metadata.get, StartTimes())
        self._file_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self, methods=["POST"])]

    async def start(self) -> None:
        self._load_pending()
        self._task = asyncio.create_task(self._expire_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(reversed(scope["headers"]))
        authorization = [v for k, v in scope["headers"] if k == b"authorization"]
        try:
            answer = await self._write(headers, authorization, receive)
        except Disconnected:
            return
        except Exception:
            log.exception("remote write failed")
            answer = (500, b"Internal Server Error", TEXT, ())
        await respond(send, answer)

    async def _write(
        self, headers: dict[bytes, bytes], authorization: list[bytes], receive: Receive
    ) -> Answer:
        intake, limits = self.intake, self.intake.limits
        started = time.monotonic()
        try:
            # The API port's RequireToken checks this too; a receiver mounted elsewhere relies
            # on this check (every repeated Authorization header counts, as on OTLP).
            check_token(intake.token, authorization)
            encoding = headers.get(b"content-encoding", b"snappy").decode("latin-1").strip()
            if encoding.lower() != "snappy":
                raise Refused(
                    415, malformed("").code,
                    f"Content-Encoding must be snappy (remote write 1.0), not {encoding!r}",
                )  # fmt: skip
            declared = headers.get(b"content-length")
            body = await read_body(
                receive, declared.decode("latin-1") if declared else None, limits.max_body_bytes
            )
            req = decode_write_request(body, limits.max_decompressed_bytes)
            payload, points = self._convert(req, time.monotonic())
            if points:
                await intake.spool_request(METRICS, payload, points, "remote_write", 0, started)
            await self._save_pending()
        except Refused as exc:
            extra = [(b"retry-after", str(exc.retry_after).encode())] if exc.retry_after else []
            return exc.status, exc.message.encode() + b"\n", TEXT, extra
        return 204, b"", TEXT, ()

    def _convert(self, req: Any, now: float) -> tuple[bytes, int]:
        """The OTLP request of ``req``'s samples and held groups now complete; (bytes, points)."""
        for meta in req.metadata:
            kind = METRIC_TYPES[meta.type] if meta.type < len(METRIC_TYPES) else "unknown"
            if kind != "unknown":
                self.metadata[meta.metric_family_name] = kind
        series = []
        for i, ts in enumerate(req.timeseries):
            labels = {label.name: label.value for label in ts.labels}
            name = labels.pop("__name__", None)
            if not name:
                raise malformed(f"timeseries {i} has no __name__ label")
            series.append((name, labels, ts.samples))
            # Learn composite families from their shapes before any _sum/_count is classified.
            if "le" in labels and name.endswith("_bucket"):
                self.metadata.setdefault(name[:-7], "histogram")
            elif "quantile" in labels:
                self.metadata.setdefault(name, "summary")
        items = sum(len(s) for _, _, s in series)
        if items > self.intake.limits.max_items:
            raise too_large(
                f"{items} samples in one request; the limit is {self.intake.limits.max_items}"
            )
        builder = RequestBuilder()
        emitter = self.emitter(builder)
        add = self.assembler.add
        for name, labels, samples in series:
            for sample in samples:
                add(name, dict(labels), sample.timestamp, sample.value, emitter, now)
        self.assembler.emit_groups(emitter, keep=lambda g: self._hold(g, now))
        emitter.flush()
        return builder.request().SerializeToString(), builder.points

    def _hold(self, group: Group, now: float) -> bool:
        return not self.assembler.complete(group) and now - group.arrived < self.hold_s

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(max(self.hold_s / 4, 0.05))
            if not self.assembler.groups:
                continue
            now = time.monotonic()
            builder = RequestBuilder()
            held = dict(self.assembler.groups)
            emitter = self.emitter(builder)
            self.assembler.emit_groups(emitter, keep=partial(self._hold, now=now))
            emitter.flush()
            if not builder.points:
                continue
            payload = builder.request().SerializeToString()
            try:
                await self.intake.spool_request(METRICS, payload, builder.points, "remote_write")
            except Refused as exc:  # still held (and on disk); tried again next round
                log.warning("held remote-write groups not spooled yet: %s", exc.message)
                self.assembler.groups = held
                continue
            await self._save_pending()

    def _pending_request(self) -> Any:
        req = WriteRequest()
        for group in self.assembler.groups.values():
            pieces: list[tuple[str, list[tuple[str, str]], float]] = []
            labels = list(group.labels)
            for le, value in group.buckets.items():
                pieces.append((group.base + "_bucket", [*labels, ("le", _fmt(le))], value))
            for q, value in group.quantiles.items():
                pieces.append((group.base, [*labels, ("quantile", _fmt(q))], value))
            if group.sum is not None:
                pieces.append((group.base + "_sum", labels, group.sum))
            if group.count is not None:
                pieces.append((group.base + "_count", labels, group.count))
            for name, piece_labels, value in pieces:
                ts = req.timeseries.add()
                for key, val in [("__name__", name), *piece_labels]:
                    ts.labels.add(name=key, value=val)
                ts.samples.add(value=value, timestamp=group.ts_ms)
            req.metadata.add(type=METRIC_TYPES.index(group.kind), metric_family_name=group.base)
        return req

    async def _save_pending(self) -> None:
        """Rewrite the held pieces' file (fsync'ed, then renamed) when it is out of date."""
        async with self._file_lock:
            if self.assembler.groups:
                data = self._pending_request().SerializeToString()
                await asyncio.to_thread(_write_durably, self.pending_path, data)
            elif self.pending_path.exists():
                self.pending_path.unlink()

    def _load_pending(self) -> None:
        if not self.pending_path.exists():
            return
        req = WriteRequest()
        req.ParseFromString(self.pending_path.read_bytes())
        if not req.timeseries:
            return
        # Fed without an emitter call: held pieces are composite, only grouped here.
        builder = RequestBuilder()
        for meta in req.metadata:
            self.metadata.setdefault(meta.metric_family_name, METRIC_TYPES[meta.type])
        for ts in req.timeseries:
            labels = {label.name: label.value for label in ts.labels}
            name = labels.pop("__name__")
            for sample in ts.samples:
                self.assembler.add(name, labels, sample.timestamp, sample.value, builder,
                                   time.monotonic())  # fmt: skip
        log.info("remote write: %d held groups read back", len(self.assembler.groups))


def _fmt(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
