"""The weekly report inside ``tailsight up``: its cron job, and the routes that list and serve reports.

The scheduler plumbing (an ``AsyncIOScheduler`` with one cron job) stays here and the
job itself in :mod:`tailsight.reports.job`, so the shared scheduler can take the job over
unchanged. Routes (CONTRACT §8): ``GET /api/v1/reports``, ``POST /api/v1/reports``
(generate a week now, ``{"week": "2026-W48"}``, used by ``tailsight report`` while ``up``
holds the store) and ``GET /reports/<week>.html|.pdf``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tailsight.config import ConfigError, Settings
from tailsight.reports.archive import list_reports, report_path, save
from tailsight.reports.build import AlertSource, SliSource
from tailsight.reports.job import ReportRun, generate_week, reports_dir, run_weekly_report
from tailsight.reports.schedule import cron_trigger
from tailsight.reports.week import last_full_week, parse_week
from tailsight.storage.store import Store, StoreError

log = logging.getLogger(__name__)

MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


class WeeklyReportComponent:
    """Writes, mails, lists and serves the weekly report, as a :class:`Component`.

    Args:
        store: the store reports are built from.
        settings: ``report_schedule``, ``report_timezone``, ``report_email_to``,
            ``smtp_url``, ``smtp_from``, ``slo_dir`` and ``data_dir`` are read.
        alert_source: the burn-rate alert history (``(start, end) -> [Alert]``); without
            it reports say the history is not available.
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
        try:  # a bad schedule stops `tailsight up` at startup, not on Monday
            self.trigger = cron_trigger(settings.report_schedule, settings.report_timezone)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.runs: list[ReportRun] = []
        self._scheduler: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()  # one generation at a time: each holds the store a while

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/reports", self._list, methods=["GET"]),
            Route("/api/v1/reports", self._generate, methods=["POST"]),
            Route("/reports/{name}", self._serve, methods=["GET"]),
        ]

    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=self.trigger.timezone)
        self._scheduler.add_job(
            self.fire,
            self.trigger,
            id="weekly-report",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        async with self._lock:  # let a generation in progress finish writing its files
            pass

    async def fire(self) -> ReportRun | None:
        """One scheduled run; a failure is logged and waits for the next schedule."""
        async with self._lock:
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
