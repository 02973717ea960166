"""The job scheduler of ``tailsight up``: APScheduler jobs that never overlap and stop cleanly."""

from __future__ import annotations

import asyncio
import time

from tailsight.app.jobs import JobScheduler


def test_a_slow_job_never_overlaps_itself_and_stop_waits_for_it() -> None:
    async def scenario() -> tuple[int, int, int, bool]:
        jobs = JobScheduler()
        running = 0
        most = 0
        finished = False

        async def slow() -> None:
            nonlocal running, most, finished
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.35)
            running -= 1
            finished = True

        jobs.every("slow", 0.1, slow)
        await jobs.start()
        await asyncio.sleep(0.8)
        await jobs.stop()
        stats = jobs.stats("slow")
        return most, stats.runs, stats.skipped, finished and running == 0

    most, runs, skipped, clean = asyncio.run(scenario())
    assert most == 1  # never two runs at once
    assert runs >= 2 and skipped >= 1  # runs due meanwhile were skipped, not queued
    assert clean  # stop waited for the run in progress


def test_a_failing_job_keeps_its_schedule() -> None:
    async def scenario() -> tuple[int, int, str | None]:
        jobs = JobScheduler()

        async def broken() -> None:
            raise RuntimeError("store down")

        jobs.every("broken", 0.05, broken)
        await jobs.start()
        await asyncio.sleep(0.3)
        await jobs.stop()
        s = jobs.stats("broken")
        return s.runs, s.failures, s.last_error

    runs, failures, error = asyncio.run(scenario())
    assert runs >= 3 and failures == runs
    assert error == "RuntimeError: store down"


def test_run_now_waits_for_the_scheduled_run() -> None:
    async def scenario() -> list[str]:
        jobs = JobScheduler()
        log: list[str] = []

        async def job() -> None:
            log.append("start")
            await asyncio.sleep(0.1)
            log.append("end")

        jobs.every("job", 3600, job)  # first run at once
        await jobs.start()
        while not log:  # the scheduled run has begun
            await asyncio.sleep(0.005)
        await jobs.run_now("job")
        await jobs.stop()
        return log

    assert asyncio.run(scenario()) == ["start", "end", "start", "end"]


def test_a_job_pinned_to_the_clock_keeps_its_phase_from_the_first_run() -> None:
    # The analysis runs ``analysis_settle_s`` past each multiple of its interval; a first run
    # at start would set the phase of every later one (the trigger adds the interval to the
    # previous run), which left each window waiting up to one more interval.
    async def scenario() -> list[float]:
        jobs = JobScheduler()
        runs: list[float] = []

        async def record() -> None:
            runs.append(time.time())

        jobs.every("pinned", 0.5, record, offset_s=0.3)
        await jobs.start()
        scheduled = [jobs.next_run("pinned")]
        await asyncio.sleep(1.2)
        scheduled.append(jobs.next_run("pinned"))
        await jobs.stop()
        assert runs, "the job never ran"
        return [t.timestamp() for t in scheduled if t is not None]

    for at in asyncio.run(scenario()):
        assert abs((at - 0.3) % 0.5) < 1e-3 or abs((at - 0.3) % 0.5 - 0.5) < 1e-3, at
