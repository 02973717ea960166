"""The one bearer-token check of every port: the API (and all it serves), OTLP/HTTP, OTLP/gRPC.

RFC 6750 / 7235: ``Authorization: Bearer <token>``, the scheme case-insensitive. A request
carrying the header more than once is refused, whatever the copies say: proxies and
servers disagree on which copy counts (first on one port, last on another), so none does.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

UNAUTHORIZED = "missing or wrong Authorization: Bearer token"


def bearer_ok(expected: str | None, values: Sequence[str | bytes]) -> bool:
    """Whether the request's ``Authorization`` values (all of them) carry ``expected``.

    True when no token is configured.
    """
    if expected is None:
        return True
    if len(values) != 1:
        return False
    value = values[0]
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    scheme, _, given = raw.strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(
        given.strip(), expected.encode("utf-8")
    )
