"""The token check in front of everything served on the API port.

:class:`RequireToken` wraps the whole API application, so every route a component adds
(``/metrics``, the UI, alert and report endpoints) is behind it without asking; only the
paths in ``open_paths`` (``/api/v1/health``, for load balancers and orchestrators) are not.
The check itself is :func:`tailsight.auth.bearer_ok`, shared with the OTLP receivers.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from tailsight.auth import UNAUTHORIZED, bearer_ok

OPEN_PATHS = frozenset({"/api/v1/health"})


class RequireToken:
    """ASGI middleware: 401 unless the request carries the one bearer token (or the path is open)."""

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
        if scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        values = [v for k, v in scope["headers"] if k == b"authorization"]
        if bearer_ok(self.token, values):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": UNAUTHORIZED}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
