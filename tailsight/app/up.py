"""What ``tailsight up`` hosts, assembled from settings, and which role runs each part.

Each part declares its role in :data:`HOSTED`; ``--role`` picks the parts to run
(``all``: every one, the embedded default). A new capability joins by adding a
:class:`Part` with its role (``receiver``: ingest; ``analyzer``: jobs that must run
once in a cluster; ``ui``: what people and the CLI query). The analyzer's parts run
inside one :class:`~tailsight.app.leader.LeaseHolder`, only while this process holds
the analyzer lease. docs/deployment.md has the table of roles, ports and routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from tailsight.alerts.slo import SloCatalog
from tailsight.app.alerting import AlertApi, AlertJobs
from tailsight.app.api import QueryApi
from tailsight.app.component import Component
from tailsight.app.continuous import ContinuousAnalysis
from tailsight.app.jobs import JobScheduler
from tailsight.app.leader import LeaseHolder
from tailsight.config import ROLES, Settings
from tailsight.dashboards.component import DashboardUi
from tailsight.dashboards.slo_source import CatalogSloSource
from tailsight.pipeline.component import ingest_components
from tailsight.reports.component import WeeklyReportComponent, WeeklyReportJob
from tailsight.storage.lease import Lease
from tailsight.storage.store import Store

RECEIVER, ANALYZER, UI = "receiver", "analyzer", "ui"
ANALYZER_LEASE = "analyzer"


@dataclass(frozen=True)
class Part:
    """A part of ``tailsight up``: the role that runs it and how to build its components."""

    name: str
    role: str
    build: Callable[[Settings, Store], list[Component]]


def _jobs(settings: Settings, store: Store) -> list[Component]:
    """The analyzer's periodic jobs on one scheduler, which starts last and stops first."""
    jobs = JobScheduler()
    analysis = ContinuousAnalysis(
        store, settle_s=settings.analysis_settle_s, max_skew_s=settings.analysis_max_skew_s
    )
    jobs.add_check(analysis.problems)
    alerts = AlertJobs(settings, store, jobs)

    async def analysis_cycle() -> None:
        report = await asyncio.to_thread(analysis.cycle)
        if report.end is not None:  # new incidents may page at once
            await alerts.evaluate()

    # Pinned to just after each 10 s window settles, so the newest window waits for no phase.
    jobs.every(
        "analysis",
        settings.analysis_interval_s,
        analysis_cycle,
        offset_s=settings.analysis_settle_s % settings.analysis_interval_s,
    )
    report = WeeklyReportJob(store, settings, jobs)
    return [alerts, report, jobs]


def _queries(settings: Settings, store: Store) -> list[Component]:
    return [
        QueryApi(store, SloCatalog(settings.slo_path)),
        AlertApi(store),
        WeeklyReportComponent(store, settings),
    ]


# In start order; components stop in reverse, so the analyzer's jobs end before the
# receivers drain their spools.
HOSTED: tuple[Part, ...] = (
    Part("ingest", RECEIVER, lambda settings, store: ingest_components(settings, store)),
    Part("query-api", UI, _queries),
    Part("jobs", ANALYZER, _jobs),
)


def roles_of(role: str) -> tuple[str, ...]:
    """The roles a ``--role`` value stands for."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return (RECEIVER, ANALYZER, UI) if role == "all" else (role,)


def build_components(settings: Settings, store: Store) -> list[Component]:
    """The components of one ``tailsight up`` process of ``settings.role``, in start order."""
    roles = roles_of(settings.role)
    components: list[Component] = []
    jobs: list[Component] = []
    for part in HOSTED:
        if part.role in roles:
            (jobs if part.role == ANALYZER else components).extend(part.build(settings, store))
    if jobs:
        lease = Lease(store, ANALYZER_LEASE, ttl_s=settings.lease_ttl_s)
        components.append(LeaseHolder(lease, jobs))
    if UI in roles:
        # Last: the dashboards' mount at / takes every path no earlier route matched.
        slos = CatalogSloSource(store, SloCatalog(settings.slo_path))
        components.append(DashboardUi(store, settings.token, slos))
    return components
