"""What a weekly report holds, as frozen values: built from the store, then rendered.

Keeping the content apart from its rendering lets the tests check the figures against
the ground truth directly, and lets HTML, PDF and the email share one build.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tailsight.alerts.model import Alert
from tailsight.alerts.slo import Slo

STATUSES = ("met", "at_risk", "breached", "no_data")


def slo_title(slo: Slo) -> str:
    """What the report calls an SLO: its display name, else its name."""
    return slo.display_name or slo.name


@dataclass(frozen=True)
class SliDay:
    """Good and total events of one local day (sampling-adjusted counts)."""

    day: datetime
    good: float
    total: float

    @property
    def sli(self) -> float | None:
        return self.good / self.total if self.total else None


@dataclass(frozen=True)
class BudgetPoint:
    """The fraction of the window's error budget left at ``at`` (below 0 once overspent)."""

    at: datetime
    remaining: float


@dataclass(frozen=True)
class IncidentRow:
    """One incident as the report lists it: its top cause and culprit."""

    id: str
    service: str
    start: datetime
    end: datetime | None
    p99_ms: float
    baseline_p99_ms: float
    kind: str
    culprit_type: str | None
    culprit_id: str | None
    cause_service: str
    summary: str

    @property
    def culprit(self) -> str:
        if self.culprit_type and self.culprit_id:
            return f"{self.culprit_type} {self.culprit_id}"
        return "-"

    def duration(self, week_end: datetime) -> timedelta:
        """How long it lasted (up to the week's end while still open)."""
        return (self.end or week_end) - self.start


@dataclass(frozen=True)
class IncidentShare:
    """The share of an SLO's window budget that the bad events during one incident used."""

    incident: IncidentRow
    bad_events: float
    share: float


@dataclass(frozen=True)
class SloSection:
    """One SLO over the week and its window (ending at the week's end)."""

    slo: Slo
    status: str  # one of STATUSES
    sli_week: float | None
    sli_window: float | None
    total_week: float
    bad_week: float
    budget_events: float  # bad events the window allows: (1 - target) x total in the window
    consumed_week: float  # fraction of the window's budget used by this week's bad events
    consumed_previous_week: float | None
    remaining: float  # fraction of the window's budget left at the week's end
    days: tuple[SliDay, ...]
    burn_down: tuple[BudgetPoint, ...]
    window_start: datetime
    window_end: datetime
    alerts: tuple[Alert, ...]  # the burn-rate alerts of this SLO that fired in the week
    incidents: tuple[IncidentShare, ...]


@dataclass(frozen=True)
class CauseGroup:
    """The week's incidents whose top cause is ``kind``."""

    kind: str
    incidents: tuple[IncidentRow, ...]


@dataclass(frozen=True)
class RecurringCulprit:
    """A culprit blamed for three or more incidents in the week: the thing to fix."""

    kind: str
    culprit_type: str
    culprit_id: str
    count: int
    services: tuple[str, ...]


@dataclass(frozen=True)
class WorkloadHours:
    """GPU-hours of one workload (a service, or a non-serving executable) by state."""

    workload: str
    serving: bool
    gpus: int
    busy_h: float
    underutilized_h: float
    idle_h: float


@dataclass(frozen=True)
class UnderusedGpu:
    """A GPU that spent many hours underutilized, and what held it back."""

    host: str
    hw_id: str
    workload: str
    underutilized_h: float
    mean_util: float
    held_back: str


@dataclass(frozen=True)
class WeeklyReport:
    """Everything the weekly report shows."""

    week: str
    timezone: str
    start: datetime
    end: datetime
    generated_at: datetime
    slos: tuple[SloSection, ...]
    incidents: tuple[IncidentRow, ...]
    previous_kind_counts: dict[str, int]
    groups: tuple[CauseGroup, ...]
    recurring: tuple[RecurringCulprit, ...]
    workloads: tuple[WorkloadHours, ...]
    underused: tuple[UnderusedGpu, ...]

    def kind_counts(self) -> dict[str, int]:
        return {g.kind: len(g.incidents) for g in self.groups}

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for s in self.slos:
            counts[s.status] += 1
        return counts
