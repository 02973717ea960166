"""The HTTP API on port 8050: health, incidents, on-demand analysis and SLOs (CONTRACT §4–6)."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tailsight.alerts.evaluate import slo_list
from tailsight.alerts.slo import SloCatalog
from tailsight.app.analyze import analyze_range
from tailsight.model import iso
from tailsight.storage.incidents import list_incidents
from tailsight.storage.store import Store, StoreError
from tailsight.timeutil import parse_time

log = logging.getLogger(__name__)

DEFAULT_SINCE = timedelta(hours=24)


def _no_alerts(slo_name: str) -> int:
    return 0


class ApiState:
    """What the API handlers share: the store, readiness, the optional token and the SLOs.

    ``slo_catalog`` is reloaded on each ``GET /api/v1/slos`` when its files changed;
    ``alerts_firing(slo_name)`` counts the firing alerts of an SLO (the alert manager's,
    when one runs; none otherwise).
    """

    def __init__(
        self,
        store: Store,
        token: str | None = None,
        slo_catalog: SloCatalog | None = None,
        alerts_firing: Callable[[str], int] = _no_alerts,
    ) -> None:
        self.store = store
        self.token = token
        self.ready = False
        self.slo_catalog = slo_catalog
        self.alerts_firing = alerts_firing


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BearerAuth(BaseHTTPMiddleware):
    """Requires ``Authorization: Bearer <token>`` on /api/ paths other than health."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self._expected = f"Bearer {token}".encode()

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path.startswith("/api/") and path != "/api/v1/health":
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, self._expected):
                return _error(401, "missing or wrong bearer token")
        return await call_next(request)


def build_api(state: ApiState, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The API application, with the routes that hosted components contribute."""

    async def health(request: Request) -> JSONResponse:
        if not state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def incidents(request: Request) -> JSONResponse:
        now = datetime.now(UTC)
        try:
            since_raw = request.query_params.get("since")
            since = parse_time(since_raw, now) if since_raw else now - DEFAULT_SINCE
            until_raw = request.query_params.get("until")
            until = parse_time(until_raw, now) if until_raw else None
        except ValueError as exc:
            return _error(400, str(exc))
        service = request.query_params.get("service") or None
        try:
            found = await run_in_threadpool(list_incidents, state.store, since, until, service)
        except StoreError as exc:
            return _error(503, f"store unavailable: {exc}")
        return JSONResponse([i.to_json() for i in found])

    async def analyze(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            now = datetime.now(UTC)
            if "from" not in body:
                raise ValueError(
                    '"from" is required (ISO time, unix seconds or a duration such as 1h)'
                )
            start = parse_time(body["from"], now)
            end = parse_time(body["to"], now) if body.get("to") is not None else now
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc))
        try:
            found = await run_in_threadpool(analyze_range, state.store, start, end)
        except ValueError as exc:
            return _error(400, str(exc))
        except StoreError as exc:
            return _error(503, f"store unavailable: {exc}")
        return JSONResponse(
            {
                "from": iso(start),
                "to": iso(end),
                "incidents": [i.to_json() for i in found],
            }
        )

    def list_slos() -> list[dict[str, Any]]:
        catalog = state.slo_catalog
        if catalog is None:
            return []
        catalog.reload_if_changed()
        return slo_list(state.store, catalog.slos, datetime.now(UTC), state.alerts_firing)

    async def slos(request: Request) -> JSONResponse:
        try:
            found = await run_in_threadpool(list_slos)
        except StoreError as exc:
            return _error(503, f"store unavailable: {exc}")
        return JSONResponse(found)

    routes: list[BaseRoute] = [
        Route("/api/v1/health", health, methods=["GET"]),
        Route("/api/v1/incidents", incidents, methods=["GET"]),
        Route("/api/v1/analyze", analyze, methods=["POST"]),
        Route("/api/v1/slos", slos, methods=["GET"]),
        *extra_routes,
    ]
    middleware = [Middleware(BearerAuth, token=state.token)] if state.token else []
    return Starlette(routes=routes, middleware=middleware)
