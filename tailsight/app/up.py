"""What ``tailsight up`` hosts, assembled from settings, and which role runs each part.

Each part declares its role in :data:`HOSTED`; ``--role`` picks the parts to run
(``all``: every one, the embedded default). A new capability joins by adding a
:class:`Part` with its role (``receiver``: ingest; ``analyzer``: jobs that must run
once in a cluster; ``ui``: what people and the CLI query). The analyzer's parts run
inside one :class:`~tailsight.app.leader.LeaseHolder`, only while this process holds
the analyzer lease. docs/deployment.md has the table of roles, ports and routes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tailsight.alerts.scheduler import AnalysisScheduler
from tailsight.app.api import QueryApi
from tailsight.app.component import Component
from tailsight.app.leader import LeaseHolder
from tailsight.config import ROLES, Settings
from tailsight.pipeline.component import ingest_components
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


def _analysis(settings: Settings, store: Store) -> list[Component]:
    return [AnalysisScheduler(store, interval_s=settings.analysis_interval_s)]


# In start order; components stop in reverse, so the analyzer's jobs end before the
# receivers drain their spools.
HOSTED: tuple[Part, ...] = (
    Part("ingest", RECEIVER, lambda settings, store: ingest_components(settings, store)),
    Part("query-api", UI, lambda settings, store: [QueryApi(store)]),
    Part("analysis", ANALYZER, _analysis),
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
    return components
