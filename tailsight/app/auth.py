"""The token check in front of everything served on the API port.

:class:`RequireToken` wraps the whole API application, so every route a component adds
(``/metrics``, the UI, alert and report endpoints) is behind it without asking; only the
paths in ``open_paths`` are not: ``/api/v1/health`` (load balancers and orchestrators)
and ``/login`` (the UI's token form). A request is authorized by one ``Authorization:
Bearer`` header (:func:`tailsight.auth.bearer_ok`, shared with the OTLP receivers: the
scheme case-insensitive, a repeated header refused) or, for a browser, by the cookie that
``/login`` sets. A page asked for without either gets the login form; anything else 401.
"""

from __future__ import annotations

import hmac
import json
from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

from tailsight.auth import UNAUTHORIZED, bearer_ok

COOKIE = "tailsight_token"
OPEN_PATHS = frozenset({"/api/v1/health", "/login"})
# Paths that answer programs, not people: never the login form.
_MACHINE_PREFIXES = ("/api/", "/metrics", "/_dash", "/v1/")


def token_matches(presented: str | None, token: str) -> bool:
    """Whether ``presented`` is the configured ``token`` (constant-time comparison)."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), token.encode())


def _cookie(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:
                return None
            if COOKIE in jar:
                return jar[COOKIE].value
    return None


def authorized(scope: Scope, token: str) -> bool:
    """A bearer header (exactly one) with ``token``, or else the UI cookie holding it."""
    values = [v for k, v in scope["headers"] if k == b"authorization"]
    if values:
        return bearer_ok(token, values)
    return token_matches(_cookie(scope), token)


class RequireToken:
    """ASGI middleware: 401 unless the request carries the one token (or the path is open)."""

    def __init__(
        self, app: ASGIApp, token: str | None, open_paths: frozenset[str] = OPEN_PATHS
    ) -> None:
        self.app = app
        self.token = token
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.token is None:
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.open_paths or authorized(scope, self.token):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope["path"]
        if scope["method"] == "GET" and not path.startswith(_MACHINE_PREFIXES):
            from tailsight.dashboards.component import login_page  # the UI's form

            query = scope.get("query_string", b"").decode("latin-1")
            body = login_page(path + (f"?{query}" if query else "")).encode()
            kind = b"text/html; charset=utf-8"
        else:
            body, kind = json.dumps({"error": UNAUTHORIZED}).encode(), b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", kind),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
