"""What a request may be: size, decompressed size, items, and who may send it.

Every refusal is a :class:`Refused` carrying the HTTP status, the gRPC status code and a
one-line message; the receivers turn it into their transport's answer.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from tailsight.auth import UNAUTHORIZED, bearer_ok


@dataclass(frozen=True)
class Limits:
    """Bounds on one request."""

    max_body_bytes: int = 16 << 20  # as sent (compressed)
    max_decompressed_bytes: int = 64 << 20
    max_items: int = 200_000  # spans, data points or log records
    retry_after_s: int = 2


class Refused(Exception):
    """A request the receiver will not take; ``status`` is HTTP, ``code`` the gRPC equivalent."""

    def __init__(
        self, status: int, code: grpc.StatusCode, message: str, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """A short label for metrics."""
        return {
            400: "malformed",
            401: "unauthorized",
            413: "too_large",
            415: "unsupported",
            429: "overloaded",
            503: "unavailable",
        }.get(self.status, str(self.status))


def malformed(message: str) -> Refused:
    return Refused(400, grpc.StatusCode.INVALID_ARGUMENT, message)


def too_large(message: str) -> Refused:
    return Refused(413, grpc.StatusCode.RESOURCE_EXHAUSTED, message)


def check_token(expected: str | None, authorization: Sequence[str | bytes]) -> None:
    """Raise 401 unless the request's one ``Authorization`` is ``Bearer <expected>`` (:mod:`tailsight.auth`)."""
    if not bearer_ok(expected, authorization):
        raise Refused(401, grpc.StatusCode.UNAUTHENTICATED, UNAUTHORIZED)


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, every member of it, refusing (413) as soon as the output would pass ``limit``.

    A body may be several gzip members one after another (RFC 1952 §2.2); all are
    decompressed. Bytes after the last member that are not another member are refused
    (400), as is a member cut short: nothing of the body is silently dropped.
    """
    out: list[bytes] = []
    size = 0
    rest = body
    try:
        while True:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            part = inflater.decompress(rest, limit - size + 1)
            size += len(part)
            if size > limit or inflater.unconsumed_tail:
                raise too_large(f"body decompresses to more than {limit} bytes")
            if not inflater.eof:
                raise malformed("gzip body is truncated")
            out.append(part)
            rest = inflater.unused_data
            if not rest:
                break
            if rest[:2] != b"\x1f\x8b":
                raise malformed(f"gzip body has {len(rest)} bytes after its last member")
    except zlib.error as exc:
        raise malformed(f"body is not valid gzip: {exc}") from None
    return out[0] if len(out) == 1 else b"".join(out)
