"""OTLP/HTTP receiver (port 4318): ``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs``.

Bodies are protobuf or OTLP JSON, optionally gzip. Answers follow the OTLP/HTTP spec:
200 with the ``Export*ServiceResponse`` in the request's encoding, 4xx with a
``google.rpc.Status`` naming the problem, 429/503 with ``Retry-After`` when the spool is
full. The body is read with its size bounded before anything is parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from google.protobuf import json_format
from google.rpc import status_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tailsight.pipeline.intake import Intake
from tailsight.pipeline.limits import Refused, check_token, gunzip, malformed, too_large
from tailsight.pipeline.signals import SIGNALS, Signal

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(f"body of {declared} bytes is over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _status_response(exc: Refused, is_json: bool) -> Response:
    status = status_pb2.Status(code=exc.code.value[0], message=exc.message)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    if is_json:
        body = json_format.MessageToJson(status, indent=None).encode()
        return Response(body, exc.status, headers=headers, media_type=JSON)
    return Response(status.SerializeToString(), exc.status, headers=headers, media_type=PROTOBUF)


def _endpoint(intake: Intake, signal: Signal) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    limits = intake.limits

    async def export(request: Request) -> Response:
        media = _media(request.headers.get("content-type"))
        is_json = media == JSON
        try:
            check_token(intake.token, request.headers.get("authorization"))
            if media not in (PROTOBUF, JSON):
                raise Refused(
                    415,
                    malformed("").code,
                    f"Content-Type must be {PROTOBUF} or {JSON}, not {media or 'missing'!r}",
                )
            body = await _read_body(request, limits.max_body_bytes)
            encoding = request.headers.get("content-encoding", "").strip().lower()
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
            return _status_response(exc, is_json)
        if is_json:
            resp = signal.response()
            resp.ParseFromString(answer)
            return Response(json_format.MessageToJson(resp, indent=None).encode(), media_type=JSON)
        return Response(answer, media_type=PROTOBUF)

    return export


def build_http_app(intake: Intake) -> Starlette:
    """The OTLP/HTTP ASGI app."""
    routes = [Route(s.path, _endpoint(intake, s), methods=["POST"]) for s in SIGNALS]
    return Starlette(routes=routes)
