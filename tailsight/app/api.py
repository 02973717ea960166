"""The HTTP API on port 8050: health, and the incident, analysis and SLO routes (CONTRACT §4–6)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tailsight.alerts.evaluate import slo_list
from tailsight.alerts.slo import SloCatalog
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
    """The API application: health, and the routes that the hosted components contribute.

    Which components a process hosts depends on its role (``app/up.py``), so a receiver
    answers 404 on the query routes that only :class:`QueryApi` (the ``ui`` role) adds.
    """

    async def health(request: Request) -> JSONResponse:
        if not state.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        problems = await run_in_threadpool(state.problems)
        if problems:  # still up (200), but saying what is wrong
            return JSONResponse({"status": "degraded", "errors": problems})
        return JSONResponse({"status": "ok"})

    routes: list[BaseRoute] = [Route("/api/v1/health", health, methods=["GET"]), *extra_routes]
    # Outermost: every route, those added later by components included, is behind the token.
    return Starlette(routes=routes, middleware=[Middleware(RequireToken, token=state.token)])


class QueryApi:
    """The incident and SLO routes of CONTRACT §4 and §6 as a :class:`~tailsight.app.component.Component`.

    ``slo_catalog`` is reloaded on each ``GET /api/v1/slos`` when its files changed.
    """

    name = "query-api"

    def __init__(self, store: Store, slo_catalog: SloCatalog | None = None) -> None:
        self.store = store
        self.slo_catalog = slo_catalog

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/incidents", self.incidents, methods=["GET"]),
            Route("/api/v1/analyze", self.analyze, methods=["POST"]),
            Route("/api/v1/slos", self.slos, methods=["GET"]),
        ]

    def _slo_list(self) -> list[dict[str, Any]]:
        catalog = self.slo_catalog
        if catalog is None:
            return []
        catalog.reload_if_changed()
        return slo_list(self.store, catalog.slos, datetime.now(UTC))

    async def slos(self, request: Request) -> JSONResponse:
        try:
            found = await run_in_threadpool(self._slo_list)
        except StoreError as exc:
            return _store_failed(exc)
        return JSONResponse(found)

    async def incidents(self, request: Request) -> JSONResponse:
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
            found = await run_in_threadpool(list_incidents, self.store, since, until, service)
        except StoreError as exc:
            return _store_failed(exc)
        return JSONResponse([i.to_json() for i in found])

    async def analyze(self, request: Request) -> JSONResponse:
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
            found = await run_in_threadpool(analyze_range, self.store, start, end)
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
