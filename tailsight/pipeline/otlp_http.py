"""OTLP/HTTP receiver (port 4318): ``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs``.

Bodies are protobuf or OTLP JSON, optionally gzip. Answers follow the OTLP/HTTP spec:
200 with the ``Export*ServiceResponse`` in the request's encoding, 4xx with a
``google.rpc.Status`` naming the problem, 429/503 with ``Retry-After`` when the spool is
full. The body is read with its size bounded before anything is parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from google.protobuf import json_format
from google.rpc import status_pb2
from starlette.types import Receive, Scope, Send

from tailsight.pipeline.intake import Intake
from tailsight.pipeline.limits import Refused, check_token, gunzip, malformed, too_large
from tailsight.pipeline.signals import SIGNALS, Signal

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class Disconnected(Exception):
    """The client went away before its body arrived: nobody to answer."""


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


async def read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(f"body of {declared} bytes is over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# An answer: status, body, media type and extra headers.
Answer = tuple[int, bytes, str, Sequence[tuple[bytes, bytes]]]
TEXT = "text/plain; charset=utf-8"


async def respond(send: Send, answer: Answer) -> None:
    status, body, media, extra = answer
    headers = [
        (b"content-type", media.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _refusal(exc: Refused, is_json: bool) -> Answer:
    status = status_pb2.Status(code=exc.code.value[0], message=exc.message)
    extra = [(b"retry-after", str(exc.retry_after).encode())] if exc.retry_after is not None else []
    if is_json:
        return exc.status, json_format.MessageToJson(status, indent=None).encode(), JSON, extra
    return exc.status, status.SerializeToString(), PROTOBUF, extra


class OtlpHttpApp:
    """The OTLP/HTTP ASGI app: three POST paths, answered without a framework in between.

    This is the receiver's hot path (a request per exporter batch), so it reads the ASGI
    messages directly: a router, request and response objects cost more per request than
    the rest of the Python work on it (bench/README.md).
    """

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.signals: dict[str, Signal] = {s.path: s for s in SIGNALS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        signal = self.signals.get(scope["path"])
        if signal is None:
            answer: Answer = (404, b"Not Found", TEXT, ())
        elif scope["method"] != "POST":
            answer = (405, b"Method Not Allowed", TEXT, [(b"allow", b"POST")])
        else:
            try:
                answer = await self._export(signal, scope["headers"], receive)
            except Disconnected:
                return
            except Exception:
                log.exception("OTLP/HTTP %s failed", scope["path"])
                answer = (500, b"Internal Server Error", TEXT, ())
        await respond(send, answer)

    async def _export(
        self, signal: Signal, raw_headers: list[tuple[bytes, bytes]], receive: Receive
    ) -> Answer:
        """The answer to one export."""
        intake, limits = self.intake, self.intake.limits
        headers = dict(reversed(raw_headers))  # the first of repeated names (but Authorization)
        media = _media(headers.get(b"content-type", b"").decode("latin-1"))
        is_json = media == JSON
        try:
            if intake.token is not None:
                check_token(intake.token, [v for k, v in raw_headers if k == b"authorization"])
            if media not in (PROTOBUF, JSON):
                raise Refused(
                    415,
                    malformed("").code,
                    f"Content-Type must be {PROTOBUF} or {JSON}, not {media or 'missing'!r}",
                )
            declared = headers.get(b"content-length")
            body = await read_body(
                receive, declared.decode("latin-1") if declared else None, limits.max_body_bytes
            )
            encoding = headers.get(b"content-encoding", b"").decode("latin-1").strip().lower()
            if encoding == "gzip":
                body = gunzip(body, limits.max_decompressed_bytes)
            elif encoding not in ("", "identity"):
                raise Refused(
                    415, malformed("").code, f"Content-Encoding {encoding!r} is not supported"
                )
            if len(body) > limits.max_decompressed_bytes:
                raise too_large(f"body is over the limit of {limits.max_decompressed_bytes} bytes")
            answer = await intake.accept(signal, body, is_json, "http")
        except Refused as exc:
            return _refusal(exc, is_json)
        if is_json:
            resp = signal.response()
            resp.ParseFromString(answer)
            return 200, json_format.MessageToJson(resp, indent=None).encode(), JSON, ()
        return 200, answer, PROTOBUF, ()


def build_http_app(intake: Intake) -> OtlpHttpApp:
    """The OTLP/HTTP ASGI app."""
    return OtlpHttpApp(intake)
