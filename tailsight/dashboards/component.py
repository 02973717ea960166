"""The dashboards as a ``tailsight up`` component: Dash (WSGI, through a2wsgi) mounted at ``/``.

The API's routes (``/api/…``, ``/metrics``) are matched first, so the mount at ``/``
only gets what they do not serve. With a token configured every UI request, pages,
assets and Dash's ``/_dash-update-component`` alike, must carry it (bearer header or
the cookie ``/login`` sets); the check is the API port's one check,
:class:`tailsight.app.auth.RequireToken`, which answers a page asked for without it with
:func:`login_page`.
"""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any
from urllib.parse import parse_qs, quote

from a2wsgi import WSGIMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from tailsight.app.auth import COOKIE, token_matches
from tailsight.dashboards.style import CSS
from tailsight.storage.store import Store

COOKIE_MAX_AGE_S = 30 * 86400
# Paths for programs: when no earlier route served one (another role's endpoint), it is a
# 404, not a dashboard page.
MACHINE_PATHS = ("/api/", "/metrics", "/v1/", "/reports/")
log = logging.getLogger(__name__)


def login_page(next_path: str, message: str = "") -> str:
    note = f'<p class="error">{html.escape(message)}</p>' if message else ""
    return f"""<!DOCTYPE html><html><head><title>tailsight: sign in</title><style>{CSS}</style></head>
<body><form class="login" method="post" action="/login">
<h1>tailsight</h1><p>This server requires its access token (TAILSIGHT_TOKEN).</p>{note}
<input type="password" name="token" placeholder="token" autofocus autocomplete="current-password">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<button class="apply" type="submit">Open dashboards</button></form></body></html>"""


def _safe_next(value: str) -> str:
    """Only a local path: a login must not redirect to another site."""
    return value if value.startswith("/") and not value.startswith("//") else "/"


class DashboardUi:
    """The Dash UI on the API port, as a :class:`~tailsight.app.component.Component`.

    It must be the last component whose routes are added: its mount at ``/`` takes
    every path no earlier route matched.
    """

    name = "dashboards"

    def __init__(self, store: Store, token: str | None = None, slos: Any = None) -> None:
        self.token = token
        self._store = store
        self._slos = slos
        self._wsgi: Any = None
        self._built: asyncio.Task[None] | None = None

    def _build(self) -> None:
        # Imported here: Dash, Flask and plotly take a second or more to import, which
        # `tailsight up` then spends after it is healthy rather than before.
        from tailsight.dashboards.app import build_dash

        self._wsgi = WSGIMiddleware(build_dash(self._store, self._slos).server)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(MACHINE_PATHS):  # an API path no component serves here
            await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)
            return
        if self._wsgi is None:
            if self._built is None:
                self._built = asyncio.create_task(asyncio.to_thread(self._build))
            await asyncio.shield(self._built)
        await self._wsgi(scope, receive, send)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/login", self._login, methods=["GET", "POST"]),
            Mount("/", app=self._serve),
        ]

    async def _login(self, request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(login_page(_safe_next(request.query_params.get("next", "/"))))
        # The form is urlencoded; parsed here rather than pulling in python-multipart.
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        next_path = _safe_next((form.get("next") or ["/"])[0])
        given = (form.get("token") or [""])[0]
        if self.token is None:
            return RedirectResponse(next_path, status_code=303)
        if not token_matches(given, self.token):
            return HTMLResponse(login_page(next_path, "That is not the token."), status_code=401)
        response = RedirectResponse(quote(next_path, safe="/?=&%:.-_~"), status_code=303)
        response.set_cookie(
            COOKIE, given, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="strict", path="/"
        )
        return response

    async def start(self) -> None:
        """Starts building the Dash app in a thread; requests that come first wait for it."""
        self._built = asyncio.create_task(asyncio.to_thread(self._build))
        self._built.add_done_callback(_log_failure)

    async def stop(self) -> None:
        if self._built is not None and not self._built.done():
            await asyncio.wait([self._built], timeout=30)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the dashboards could not be built", exc_info=task.exception())
