"""SLOs and alerts inside ``tailsight up``: the evaluation job (analyzer role) and the alert API (ui).

The SLO and alert evaluation runs every ``slo_interval_s`` as a job of the process'
scheduler, and once more right after each analysis cycle, so an incident found by the
analysis pages without waiting for the next tick.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tailsight.alerts.lifecycle import Timing
from tailsight.alerts.manager import AlertManager, Send
from tailsight.alerts.model import Alert, Delivery
from tailsight.alerts.notifiers import Notifier, build_notifiers, deliver
from tailsight.alerts.silences import Silence
from tailsight.alerts.slo import SloCatalog
from tailsight.app.jobs import JobScheduler
from tailsight.config import Settings
from tailsight.storage.alerts import acknowledge, list_alerts, list_silences, save_silence
from tailsight.storage.store import Store, StoreError
from tailsight.timeutil import parse_duration, parse_time

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def alerts_json(store: Store, state: str, since: datetime | None, now: datetime) -> list[dict[str, Any]]:
    """``GET /api/v1/alerts``: episodes newest first, ``silenced`` as of ``now`` (CONTRACT §7)."""
    if state not in ("firing", "resolved", "all"):
        raise ValueError("state must be firing, resolved or all")
    silences = list_silences(store, now)
    out = []
    for alert in list_alerts(store, state, since):
        muted = alert.state == "firing" and any(s.mutes(alert.labels, now) for s in silences)
        out.append({**alert.to_json(), "silenced": muted})
    return out


def add_silence(store: Store, body: dict[str, Any], now: datetime) -> Silence:
    """A silence from ``{"matchers": [...], "for": "2h" | "ends_at": …, "comment", "created_by"}``."""
    matchers = body.get("matchers")
    if not isinstance(matchers, list) or not all(isinstance(m, str) for m in matchers):
        raise ValueError('"matchers" must be a list of strings such as "service=embedder"')
    if body.get("ends_at") is not None:
        duration = parse_time(body["ends_at"], now) - now
    else:
        duration = parse_duration(str(body.get("for", "2h")))
    silence = Silence.new(
        matchers, now, duration, str(body.get("created_by", "")), str(body.get("comment", ""))
    )
    save_silence(store, silence)
    return silence


def expire_silence(store: Store, silence_id: str, now: datetime) -> Silence | None:
    """End silence ``silence_id`` now; None when there is no such silence."""
    for s in list_silences(store):
        if s.id == silence_id:
            ended = Silence(s.id, s.matchers, s.starts_at, min(s.ends_at, now), s.created_by, s.comment)
            save_silence(store, ended)
            return ended
    return None


def alert_routes(store: Store) -> list[BaseRoute]:
    """The alert and silence endpoints of the API port."""

    async def alerts(request: Request) -> JSONResponse:
        now = datetime.now(UTC)
        try:
            raw = request.query_params.get("since")
            since = parse_time(raw, now) if raw else None
            state = request.query_params.get("state", "all")
            found = await run_in_threadpool(alerts_json, store, state, since, now)
        except ValueError as exc:
            return _error(400, str(exc))
        except StoreError:
            return _error(503, "store unavailable")
        return JSONResponse(found)

    async def ack(request: Request) -> JSONResponse:
        fp = request.path_params["fingerprint"]
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        done = await run_in_threadpool(acknowledge, store, fp, str(body.get("by", "")))
        if done is None:
            return _error(404, f"no alert with fingerprint {fp}")
        return JSONResponse(done.to_json())

    async def silences(request: Request) -> JSONResponse:
        now = datetime.now(UTC)
        if request.method == "GET":
            active = request.query_params.get("all") is None
            found = await run_in_threadpool(list_silences, store, now if active else None)
            return JSONResponse([s.to_json() for s in found])
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            silence = await run_in_threadpool(add_silence, store, body, now)
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse(silence.to_json(), status_code=201)

    async def unsilence(request: Request) -> JSONResponse:
        sid = request.path_params["id"]
        ended = await run_in_threadpool(expire_silence, store, sid, datetime.now(UTC))
        if ended is None:
            return _error(404, f"no silence {sid}")
        return JSONResponse(ended.to_json())

    return [
        Route("/api/v1/alerts", alerts, methods=["GET"]),
        Route("/api/v1/alerts/{fingerprint}/ack", ack, methods=["POST"]),
        Route("/api/v1/silences", silences, methods=["GET", "POST"]),
        Route("/api/v1/silences/{id}", unsilence, methods=["DELETE"]),
    ]


async def _body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        return _error(400, f"the body is not JSON: {exc}")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    return body


def notifier_sender(notifiers: list[Notifier]) -> Send:
    """``AlertManager``'s ``send``: one alert to one named notifier, with its retries."""
    by_name = {n.name: n for n in notifiers}

    async def send(alert: Alert, name: str, on_delivery: Callable[[Delivery], None]) -> None:
        await deliver(alert, [by_name[name]], on_delivery=on_delivery)

    return send


class AlertApi:
    """The alert and silence endpoints as a component of the ``ui`` role (no jobs)."""

    name = "alert-api"

    def __init__(self, store: Store) -> None:
        self.store = store

    def routes(self) -> list[BaseRoute]:
        return alert_routes(self.store)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class AlertJobs:
    """SLO and alert evaluation, a job of the ``analyzer`` role, and its deliveries."""

    name = "alert-jobs"

    def __init__(self, settings: Settings, store: Store, jobs: JobScheduler) -> None:
        self.store = store
        self.catalog = SloCatalog(settings.slo_path)
        for error in self.catalog.errors:
            log.error("SLO definitions: %s", error)
        notifiers = build_notifiers(
            settings.notifiers,
            smtp_url=settings.smtp_url,
            smtp_from=settings.smtp_from,
            external_url=settings.ui_base_url,
        )
        self.manager = AlertManager(
            store,
            self.catalog,
            {n.name: getattr(n, "resend_interval_s", None) for n in notifiers},
            notifier_sender(notifiers),
            incident_alerts=settings.incident_alerts,
            ui_url=settings.ui_base_url,
            timing=Timing(
                resolve_delay_s=settings.alert_resolve_delay_s,
                repeat_interval_s=settings.alert_repeat_interval_s,
            ),
        )
        jobs.every("alerts", settings.slo_interval_s, self.evaluate, first_in=1.0)

    async def evaluate(self) -> None:
        await self.manager.evaluate()

    def routes(self) -> list[BaseRoute]:
        return []

    async def start(self) -> None:
        log.info(
            "alerting: %d SLO(s) from %s, %d notifier(s)",
            len(self.catalog.slos),
            self.catalog.directory,
            len(self.manager.notifiers),
        )

    async def stop(self) -> None:
        await self.manager.drain(timeout_s=10.0)
