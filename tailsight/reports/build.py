"""Builds a :class:`WeeklyReport` from the store: incidents, SLO budgets and GPU time.

Two inputs come in as parameters: the SLI counts (``sli_source``, by default
:class:`~tailsight.reports.sli.BatchedSli`: the SLO rollup as the evaluator's
``sli_series`` reads it, one query a range for all SLOs) and the history of burn-rate
alerts (``alert_source``, by default the alert episodes the store keeps).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from tailsight.alerts.evaluate import slo_window_start
from tailsight.alerts.model import Alert
from tailsight.alerts.slo import Slo
from tailsight.model import Incident
from tailsight.reports import budget
from tailsight.reports.gpus import fleet_efficiency
from tailsight.reports.model import (
    CauseGroup,
    IncidentRow,
    IncidentShare,
    RecurringCulprit,
    SloSection,
    WeeklyReport,
)
from tailsight.reports.sli import BatchedSli
from tailsight.reports.week import IsoWeek
from tailsight.storage.alerts import alerts_between
from tailsight.storage.incidents import list_incidents
from tailsight.storage.store import Store

COARSE_STEP_S = 3600  # the window's SLI buckets: burn-down, days and week totals
ROLLUP_S = 10  # incident intervals are widened to the SLO rollup's 10 s windows
RECURRING_AT = 3  # the same culprit this many times in a week is called out

Progress = Callable[[str], None]


class SliSource(Protocol):
    """``(bucket start, good, total)`` of an SLO per ``step_s`` bucket in ``[start, end)``."""

    def __call__(
        self, slo: Slo, start: datetime, end: datetime, step_s: int
    ) -> Sequence[tuple[datetime, float, float]]: ...


AlertSource = Callable[[datetime, datetime], Sequence[Alert]]


def incident_row(incident: Incident) -> IncidentRow:
    top = max(incident.causes, key=lambda c: c.score, default=None)
    return IncidentRow(
        id=incident.id,
        service=incident.service,
        start=incident.start,
        end=incident.end,
        p99_ms=incident.p99_ms,
        baseline_p99_ms=incident.baseline_p99_ms,
        kind=top.kind if top else "unknown",
        culprit_type=top.entity.type if top and top.entity else None,
        culprit_id=top.entity.id if top and top.entity else None,
        cause_service=top.service if top else incident.service,
        summary=top.summary if top else "nothing in the evidence explains it",
    )


def week_incidents(store: Store, week: IsoWeek) -> list[IncidentRow]:
    """Incidents that began in the week, oldest first."""
    found = list_incidents(store, week.start, week.end)
    rows = [incident_row(i) for i in found if week.start <= i.start < week.end]
    return sorted(rows, key=lambda r: (r.start, r.service))


def group_by_cause(rows: Sequence[IncidentRow]) -> list[CauseGroup]:
    """Incidents grouped by top cause kind, the largest group first."""
    groups: dict[str, list[IncidentRow]] = defaultdict(list)
    for row in rows:
        groups[row.kind].append(row)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [CauseGroup(kind, tuple(items)) for kind, items in ordered]


def recurring_culprits(rows: Sequence[IncidentRow]) -> list[RecurringCulprit]:
    """Culprits (a port, a NIC, a neighbor process or pod, a GPU, a host) blamed 3+ times."""
    seen: dict[tuple[str, str, str], list[IncidentRow]] = defaultdict(list)
    for row in rows:
        if row.culprit_type and row.culprit_id and row.culprit_type != "service":
            seen[(row.kind, row.culprit_type, row.culprit_id)].append(row)
    out = [
        RecurringCulprit(kind, etype, eid, len(items), tuple(sorted({r.service for r in items})))
        for (kind, etype, eid), items in seen.items()
        if len(items) >= RECURRING_AT
    ]
    return sorted(out, key=lambda r: (-r.count, r.culprit_id))


def window_bounds(slo: Slo, week: IsoWeek) -> tuple[datetime, datetime]:
    """The SLO window as of the week's end: rolling, or the calendar period holding the week's last day."""
    end = int(week.end.timestamp())
    start = slo_window_start(slo, end, week.end - timedelta(seconds=1))
    return datetime.fromtimestamp(start, week.end.tzinfo), week.end


def incident_interval(row: IncidentRow, week_end: datetime) -> tuple[int, int]:
    """The incident's unix start and end, widened to 10 s boundaries (open ones end with the week)."""
    lo = int(row.start.timestamp()) // ROLLUP_S * ROLLUP_S
    hi = -(-int((row.end or week_end).timestamp()) // ROLLUP_S) * ROLLUP_S
    return lo, hi


def incident_bad(sli: SliSource, slo: Slo, row: IncidentRow, week_end: datetime) -> float:
    """Bad events of ``slo`` from the incident's start to its end, on 10 s boundaries."""
    lo, hi = incident_interval(row, week_end)
    if hi <= lo:
        return 0.0
    start = datetime.fromtimestamp(lo, week_end.tzinfo)
    buckets = sli(slo, start, datetime.fromtimestamp(hi, week_end.tzinfo), hi - lo)
    good, total = budget.totals(buckets)
    return total - good


def slo_section(
    slo: Slo,
    week: IsoWeek,
    sli: SliSource,
    incidents: Sequence[IncidentRow],
    alerts: Sequence[Alert],
) -> SloSection:
    """One SLO's figures over the week and over its window ending at the week's end."""
    window_start, _ = window_bounds(slo, week)
    # Hourly buckets over the window give the burn-down, the week's days and its totals
    # (local days start on the hour); each incident's interval is read as one bucket.
    coarse = list(sli(slo, window_start, week.end, COARSE_STEP_S))
    good_w, total_w = budget.totals(coarse)
    good_wk, total_wk = budget.totals(coarse, week.start, week.end)
    allowed = budget.budget_events(slo.target, total_w)
    bad_week = total_wk - good_wk
    consumed = budget.share(bad_week, allowed)
    remaining = 1.0 - budget.share(total_w - good_w, allowed)
    previous = week.previous()
    consumed_prev = None
    if window_start <= previous.start:
        g, t = budget.totals(coarse, previous.start, week.start)
        consumed_prev = budget.share(t - g, allowed)
    n_days = max(1, round((week.end - window_start) / timedelta(days=1)))
    day_edges = [window_start + timedelta(days=i) for i in range(n_days)]
    shares = []
    for row in incidents:
        if row.service != slo.service:
            continue
        bad = incident_bad(sli, slo, row, week.end)
        if bad > 0:
            shares.append(IncidentShare(row, bad, budget.share(bad, allowed)))
    shares.sort(key=lambda s: -s.share)
    fired = tuple(a for a in alerts if a.kind == "burn_rate" and a.slo == slo.name)
    return SloSection(
        slo=slo,
        status=budget.status(
            remaining, consumed, (week.end - week.start) / (week.end - window_start), total_w
        ),
        sli_week=good_wk / total_wk if total_wk else None,
        sli_window=good_w / total_w if total_w else None,
        total_week=total_wk,
        bad_week=bad_week,
        budget_events=allowed,
        consumed_week=consumed,
        consumed_previous_week=consumed_prev,
        remaining=remaining,
        days=tuple(budget.daily(coarse, week.days(), week.end)),
        burn_down=tuple(budget.burn_down(coarse, slo.target, day_edges, week.end)),
        window_start=window_start,
        window_end=week.end,
        alerts=fired,
        incidents=tuple(shares),
    )


def build_report(
    store: Store,
    slos: Sequence[Slo],
    week: IsoWeek,
    now: datetime,
    sli_source: SliSource | None = None,
    alert_source: AlertSource | None = None,
    progress: Progress | None = None,
) -> WeeklyReport:
    """The report of ``week``; ``progress`` hears one line per step of a long generation."""
    say = progress or (lambda _msg: None)
    sli = sli_source or BatchedSli(store, slos)
    say(f"incidents of {week}")
    rows = week_incidents(store, week)
    previous = Counter(r.kind for r in week_incidents(store, week.previous()))
    source = alert_source or (lambda start, end: alerts_between(store, start, end))
    alerts = list(source(week.start, week.end))
    if isinstance(sli, BatchedSli):
        services = {slo.service for slo in slos}
        sli.prefetch(
            [(r.service, *incident_interval(r, week.end)) for r in rows if r.service in services]
        )
    sections = []
    for i, slo in enumerate(slos, 1):
        say(f"SLO {i}/{len(slos)}: {slo.name}")
        sections.append(slo_section(slo, week, sli, rows, alerts))
    say("fleet efficiency (GPU time by utilization)")
    workloads, underused = fleet_efficiency(store, week.start, week.end, rows)
    return WeeklyReport(
        week=str(week),
        timezone=week.tz,
        start=week.start,
        end=week.end,
        generated_at=now,
        slos=tuple(sections),
        incidents=tuple(rows),
        previous_kind_counts=dict(previous),
        groups=tuple(group_by_cause(rows)),
        recurring=tuple(recurring_culprits(rows)),
        workloads=tuple(workloads),
        underused=tuple(underused),
    )
