"""The weekly report inside ``tailsight up``: its cron job, and the routes that list and serve reports.

The scheduled run is a cron job of the analyzer's scheduler (:class:`WeeklyReportJob`,
one per cluster under the analyzer lease); the routes belong to the ``ui`` role
(:class:`WeeklyReportComponent`). Routes (CONTRACT §8): ``GET /api/v1/reports``, ``POST /api/v1/reports``
(generate a week now, ``{"week": "2026-W48"}``, used by ``tailsight report`` while ``up``
holds the store) and ``GET /reports/<week>.html|.pdf``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tailsight.app.jobs import JobScheduler
from tailsight.config import ConfigError, Settings
from tailsight.reports.archive import list_reports, report_path, save
from tailsight.reports.build import AlertSource, SliSource
from tailsight.reports.job import ReportRun, generate_week, reports_dir, run_weekly_report
from tailsight.reports.schedule import cron_trigger
from tailsight.reports.week import last_full_week, parse_week
from tailsight.storage.store import Store, StoreError

log = logging.getLogger(__name__)

MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


class WeeklyReportJob:
    """Writes and mails the weekly report on ``report_schedule``: a job of ``jobs``.

    A bad schedule raises :class:`ConfigError` when built, so it stops ``tailsight up`` at
    startup, not on Monday.
    """

    name = "weekly-report-job"

    def __init__(
        self,
        store: Store,
        settings: Settings,
        jobs: JobScheduler,
        alert_source: AlertSource | None = None,
        sli_source: SliSource | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.alert_source = alert_source
        self.sli_source = sli_source
        try:
            trigger = cron_trigger(settings.report_schedule, settings.report_timezone)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.runs: list[ReportRun] = []
        jobs.add("weekly-report", trigger, self.fire)

    def routes(self) -> list[BaseRoute]:
        return []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def fire(self) -> ReportRun | None:
        """One scheduled run; a failure is logged and waits for the next schedule."""
        try:
            run = await run_in_threadpool(
                run_weekly_report,
                self.store,
                self.settings,
                datetime.now(UTC),
                self.sli_source,
                self.alert_source,
            )
        except Exception:
            log.exception("weekly report failed; next try on schedule")
            return None
        self.runs.append(run)
        return run


class WeeklyReportComponent:
    """Lists, serves and generates on request the weekly reports, as a :class:`Component`.

    Args:
        store: the store reports are built from.
        settings: ``report_schedule``, ``report_timezone``, ``report_email_to``,
            ``smtp_url``, ``smtp_from``, ``slo_dir`` and ``data_dir`` are read.
        alert_source: the burn-rate alert history (``(start, end) -> [Alert]``); by
            default the alert episodes in the store.
        sli_source: SLI counts per bucket; by default spans counted in the store.
    """

    name = "weekly-report"

    def __init__(
        self,
        store: Store,
        settings: Settings,
        alert_source: AlertSource | None = None,
        sli_source: SliSource | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.alert_source = alert_source
        self.sli_source = sli_source
        self._lock = asyncio.Lock()  # one generation at a time: each holds the store a while

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/reports", self._list, methods=["GET"]),
            Route("/api/v1/reports", self._generate, methods=["POST"]),
            Route("/reports/{name}", self._serve, methods=["GET"]),
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        async with self._lock:  # let a generation in progress finish writing its files
            pass

    def _base(self) -> str:
        return self.settings.ui_base_url

    async def _list(self, request: Request) -> JSONResponse:
        entries = await run_in_threadpool(list_reports, reports_dir(self.settings), self._base())
        return JSONResponse(entries)

    async def _generate(self, request: Request) -> JSONResponse:
        tz = self.settings.report_timezone
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            raw = body.get("week")
            week = parse_week(str(raw), tz) if raw else last_full_week(datetime.now(UTC), tz)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        async with self._lock:
            try:
                rendered = await run_in_threadpool(
                    generate_week,
                    self.store,
                    self.settings,
                    week,
                    self.sli_source,
                    self.alert_source,
                )
            except StoreError as exc:
                return JSONResponse({"error": f"store unavailable: {exc}"}, status_code=503)
            await run_in_threadpool(save, rendered, reports_dir(self.settings))
        entries = list_reports(reports_dir(self.settings), self._base())
        return JSONResponse(next(e for e in entries if e["week"] == str(week)))

    def _authorized(self, request: Request) -> bool:
        """Reports hold what the API holds: with a token, it is asked for here too
        (``Authorization: Bearer`` or ``?token=``, for a link opened in a browser)."""
        token = self.settings.token
        if not token:
            return True
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
        return hmac.compare_digest(request.query_params.get("token", "").encode(), token.encode())

    async def _serve(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        name = request.path_params["name"]
        path = report_path(reports_dir(self.settings), name)
        if path is None:
            return JSONResponse({"error": f"no report {name}"}, status_code=404)
        return FileResponse(path, media_type=MEDIA[path.suffix[1:]])
