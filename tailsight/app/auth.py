"""The one token check of the API port: bearer header for the API, header or cookie for the UI.

``BearerAuth`` (the API) and the dashboards' gate call :func:`token_matches`, so a
token works the same everywhere and is compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

COOKIE = "tailsight_token"


def token_matches(presented: str | None, token: str) -> bool:
    """Whether ``presented`` is the configured ``token`` (constant-time comparison)."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), token.encode())


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or ``None``."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def request_authorized(headers: Mapping[str, str], cookies: Mapping[str, str], token: str) -> bool:
    """A UI request carries the token as a bearer header or as the ``tailsight_token`` cookie."""
    return token_matches(bearer(headers), token) or token_matches(cookies.get(COOKIE), token)
