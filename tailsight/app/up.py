"""What ``tailsight up`` hosts, assembled from settings; each capability adds its component here."""

from __future__ import annotations

import asyncio

from tailsight.app.alerting import Alerting
from tailsight.app.component import Component
from tailsight.app.continuous import ContinuousAnalysis
from tailsight.app.jobs import JobScheduler
from tailsight.config import Settings
from tailsight.pipeline.component import ingest_components
from tailsight.storage.store import Store


def build_components(settings: Settings, store: Store) -> list[Component]:
    """The components of one ``tailsight up`` process, in start order.

    The job scheduler starts last and stops first, so no job runs while the components it
    drives are starting or draining.
    """
    components: list[Component] = []
    components += ingest_components(settings, store)
    jobs = JobScheduler()
    analysis = ContinuousAnalysis(store)
    alerting = Alerting(settings, store, jobs)

    async def analysis_cycle() -> None:
        report = await asyncio.to_thread(analysis.cycle)
        if report.end is not None:  # new incidents may page at once
            await alerting.evaluate()

    jobs.every("analysis", settings.analysis_interval_s, analysis_cycle)
    components += [alerting, jobs]
    return components
