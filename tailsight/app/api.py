"""The HTTP API on port 8050: health, incidents and on-demand analysis (CONTRACT §4–5)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tailsight.app.analyze import analyze_range
from tailsight.app.auth import RequireToken
from tailsight.model import iso
from tailsight.storage.incidents import list_incidents
from tailsight.storage.store import Store, StoreError
from tailsight.timeutil import parse_time

log = logging.getLogger(__name__)

DEFAULT_SINCE = timedelta(hours=24)


class ApiState:
    """What the API handlers share: the store, readiness and the optional token."""

    def __init__(self, store: Store, token: str | None = None) -> None:
        self.store = store
        self.token = token
        self.ready = False
        self.checks: list[Callable[[], list[str]]] = []  # hosted components' problems

    def problems(self) -> list[str]:
        found: list[str] = []
        for check in self.checks:
            try:
                found += check()
            except Exception as exc:  # noqa: BLE001 - health must answer whatever a check does
                found.append(f"a health check failed: {exc}")
        return found


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _store_failed(exc: StoreError) -> JSONResponse:
    """503 without the store's own error text (it names internals); the log has it."""
    log.warning("store call failed: %s", exc)
    return _error(503, "the store is unavailable or refused the query; see the server log")


def build_api(state: ApiState, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The API application, with the routes that hosted components contribute."""

    async def health(request: Request) -> JSONResponse:
        if not state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        problems = await run_in_threadpool(state.problems)
        if problems:  # still up (200), but saying what is wrong
            return JSONResponse({"status": "degraded", "errors": problems})
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
            return _store_failed(exc)
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
            return _store_failed(exc)
        return JSONResponse(
            {
                "from": iso(start),
                "to": iso(end),
                "incidents": [i.to_json() for i in found],
            }
        )

    routes: list[BaseRoute] = [
        Route("/api/v1/health", health, methods=["GET"]),
        Route("/api/v1/incidents", incidents, methods=["GET"]),
        Route("/api/v1/analyze", analyze, methods=["POST"]),
        *extra_routes,
    ]
    # Outermost: every route, those added later by components included, is behind the token.
    return Starlette(routes=routes, middleware=[Middleware(RequireToken, token=state.token)])
