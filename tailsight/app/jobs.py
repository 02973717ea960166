"""The periodic jobs of ``tailsight up`` on one APScheduler ``AsyncIOScheduler``.

Why APScheduler rather than a loop per job: interval and cron triggers (the weekly report
is a cron job in its own time zone, :func:`tailsight.reports.schedule.cron_trigger`), one
place that says what runs when, and its guard against a job overlapping itself
(``max_instances=1``; a run that would start while the last one is still going is
skipped and counted, ``coalesce`` folds missed runs into one).

Jobs are coroutines run on the loop; blocking work (store queries, analysis) goes to the
loop's thread pool (``asyncio.to_thread``). ``stop`` waits for the runs in progress, so a
cycle is never cut half-way through replacing incidents or sending a page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from starlette.routing import BaseRoute

log = logging.getLogger(__name__)

JobFunc = Callable[[], Awaitable[Any]]


@dataclass
class JobStats:
    """What a job has done since start: shown at ``/metrics``-style introspection and in tests."""

    runs: int = 0
    failures: int = 0
    skipped: int = 0  # a run was due while the previous one was still going
    last_seconds: float = 0.0
    last_error: str | None = None
    last_finished: datetime | None = None


@dataclass
class _Job:
    name: str
    func: JobFunc
    trigger: BaseTrigger
    first_in: float | None = None
    stats: JobStats = field(default_factory=JobStats)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JobScheduler:
    """Hosts periodic jobs as one :class:`~tailsight.app.component.Component`."""

    name = "scheduler"

    def __init__(self) -> None:
        self._jobs: dict[str, _Job] = {}
        self._checks: list[Callable[[], list[str]]] = []
        self._running: set[asyncio.Task[Any]] = set()
        self._scheduler: AsyncIOScheduler | None = None

    def every(
        self,
        name: str,
        seconds: float,
        func: JobFunc,
        *,
        first_in: float = 0.0,
        offset_s: float | None = None,
    ) -> None:
        """Run ``func`` every ``seconds``, the first time ``first_in`` seconds after start.

        ``offset_s`` pins the runs to the wall clock: at ``offset_s`` past each multiple of
        ``seconds`` since the epoch (the analysis runs just after each 10 s window settles);
        ``first_in`` is then ignored, as a first run at start would set the phase of every
        later one (the trigger adds ``seconds`` to the previous run).
        """
        start = None if offset_s is None else datetime.fromtimestamp(offset_s, UTC)
        trigger = IntervalTrigger(seconds=seconds, timezone=UTC, start_date=start)
        self.add(name, trigger, func, first_in=first_in if offset_s is None else None)

    def add(
        self, name: str, trigger: BaseTrigger, func: JobFunc, first_in: float | None = None
    ) -> None:
        """Run ``func`` on ``trigger``; ``first_in`` seconds after start the first time if given."""
        if name in self._jobs:
            raise ValueError(f"job {name!r} is scheduled already")
        self._jobs[name] = _Job(name, func, trigger, first_in)
        if self._scheduler is not None:
            self._schedule(self._jobs[name])

    def add_check(self, check: Callable[[], list[str]]) -> None:
        """Add what a job knows to be wrong (e.g. data from the future) to :meth:`problems`."""
        self._checks.append(check)

    def problems(self) -> list[str]:
        """What ``/api/v1/health`` reports of the jobs: failed last runs and the jobs' checks."""
        out = [
            f"job {job.name} failed: {job.stats.last_error}"
            for job in self._jobs.values()
            if job.stats.last_error
        ]
        return out + [p for check in self._checks for p in check()]

    def stats(self, name: str) -> JobStats:
        return self._jobs[name].stats

    def next_run(self, name: str) -> datetime | None:
        job = self._scheduler.get_job(name) if self._scheduler else None
        return job.next_run_time if job else None

    def routes(self) -> list[BaseRoute]:
        return []

    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        for job in self._jobs.values():
            self._schedule(job)
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler is None:
            return
        # Pause first: shutting the executor down would cancel the runs in progress.
        self._scheduler.pause()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._scheduler.shutdown(wait=False)
        self._scheduler = None

    async def run_now(self, name: str) -> None:
        """Run one job at once, after the run in progress if there is one."""
        job = self._jobs[name]
        async with job.lock:
            await self._run_locked(job)

    def _schedule(self, job: _Job) -> None:
        assert self._scheduler is not None
        first: dict[str, Any] = {}
        if job.first_in is not None:
            first["next_run_time"] = datetime.now(UTC) + timedelta(seconds=job.first_in)
        self._scheduler.add_job(
            self._run,
            job.trigger,
            args=[job],
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            **first,
        )

    def _skipped(self, event: JobExecutionEvent) -> None:
        job = self._jobs.get(event.job_id)
        if job is not None:
            job.stats.skipped += 1
            log.debug("%s still running; a run was skipped", job.name)

    async def _run(self, job: _Job) -> None:
        if job.lock.locked():  # run_now is running it
            job.stats.skipped += 1
            return
        async with job.lock:
            await self._run_locked(job)

    async def _run_locked(self, job: _Job) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        started = time.monotonic()
        try:
            await job.func()
            job.stats.last_error = None
        except Exception as exc:  # one failed run must not end the job
            job.stats.failures += 1
            job.stats.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed; it runs again on schedule", job.name)
        finally:
            job.stats.runs += 1
            job.stats.last_seconds = time.monotonic() - started
            job.stats.last_finished = datetime.now(UTC)
            if task is not None:
                self._running.discard(task)
