"""The two alert rules of CONTRACT §7, as pure functions from SLO states and incidents to conditions.

- ``incident``: a service with an SLO (or any service, ``incident_alerts: all``) has an
  incident open now, or one that ended moments ago and was only just detected. It pages
  with the incident's top cause: detection is what makes this alert fast.
- ``burn_rate``: an SLO's error budget burns faster than one of its rules allows over both
  of the rule's windows (SRE workbook multi-window, multi-burn-rate), with enough requests
  in both windows that a few failures of a few requests page nobody.

Both name the root cause: the highest-scored incident of the service, or of the downstream
service that its causes point at, overlapping the alert's window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from tailsight.alerts.burnrate import rule_breached
from tailsight.alerts.lifecycle import Condition
from tailsight.alerts.model import RootCause
from tailsight.alerts.slo import BurnRateRule, SloStatus, format_duration
from tailsight.model import Incident

OPEN_MAX_AGE = timedelta(hours=6)  # an incident still open after this long is stale data
FRESH_END = timedelta(seconds=60)  # a spike that ended this recently still pages once
# A young incident whose cause is still unknown waits this long after its onset for the
# attribution to name one: a spike is detected a window or two after its onset, often
# before the culprit's own metrics have moved enough, and a page that says "cause
# unknown" followed by one naming the culprit is worse than the second alone. Past the
# grace it pages, unknown or not.
UNKNOWN_GRACE = timedelta(seconds=45)


def root_cause_of(incident: Incident) -> RootCause | None:
    """The incident's top cause as an alert carries it (None when it has no cause)."""
    if not incident.causes:
        return None
    top = max(incident.causes, key=lambda c: c.score)
    return RootCause(
        kind=top.kind,
        service=top.service,
        entity_type=top.entity.type if top.entity else None,
        entity_id=top.entity.id if top.entity else None,
        summary=top.summary,
        score=top.score,
        incident_id=incident.id,
    )


def _top_score(incident: Incident) -> float:
    return max((c.score for c in incident.causes if c.kind != "unknown"), default=0.0)


def _best(incidents: list[Incident]) -> Incident | None:
    """The incident to name: the best-explained, then the newest."""
    return max(incidents, key=lambda i: (_top_score(i), i.start), default=None)


def _culprit_text(cause: RootCause | None) -> str:
    if cause is None or cause.kind == "unknown":
        return "cause unknown"
    where = f" at {cause.entity_type} {cause.entity_id}" if cause.entity_id else ""
    return f"{cause.kind}{where}"


def incident_conditions(
    incidents: Iterable[Incident],
    slo_services: set[str] | None,
    now: datetime,
    ui_url: str,
) -> list[Condition]:
    """One ``incident`` condition per service with an incident that is open (or just ended).

    ``slo_services`` limits the rule to services with an SLO; None means every service.
    """
    by_service: dict[str, list[Incident]] = {}
    for inc in incidents:
        if slo_services is not None and inc.service not in slo_services:
            continue
        open_now = inc.end is None and inc.start >= now - OPEN_MAX_AGE
        just_ended = inc.end is not None and now - FRESH_END <= inc.end
        if open_now or just_ended:
            by_service.setdefault(inc.service, []).append(inc)
    out: list[Condition] = []
    for service, found in sorted(by_service.items()):
        best = _best(found)
        assert best is not None
        cause = root_cause_of(best)
        if (cause is None or cause.kind == "unknown") and now - best.start < UNKNOWN_GRACE:
            continue
        op = f" {best.operation}" if best.operation else ""
        op += f" {best.sli.upper()}" if best.sli else ""
        summary = (
            f"{service}{op} p99 {best.p99_ms:.0f} ms (baseline {best.baseline_p99_ms:.0f} ms): "
            f"{_culprit_text(cause)}"
        )
        description = cause.summary if cause else "A tail-latency spike with no explaining cause."
        out.append(
            Condition(
                kind="incident",
                name=f"incident:{service}",
                severity="page",
                service=service,
                slo=None,
                summary=summary,
                description=description,
                root_cause=cause,
                incidents=tuple(i.id for i in sorted(found, key=lambda i: i.start)),
                url=f"{ui_url}/incidents/{best.id}",
            )
        )
    return out


def related_incidents(
    incidents: Iterable[Incident], service: str, since: datetime, until: datetime
) -> list[Incident]:
    """Incidents of ``service``, and of the downstream services its incidents blame, in the range."""
    overlapping = [i for i in incidents if i.start < until and (i.end is None or i.end >= since)]
    own = [i for i in overlapping if i.service == service]
    downstream = {c.service for i in own for c in i.causes if c.service != service}
    return own + [i for i in overlapping if i.service in downstream]


def burn_rate_conditions(
    statuses: Iterable[SloStatus],
    incidents: list[Incident],
    now: datetime,
    ui_url: str,
) -> list[Condition]:
    """One ``burn_rate`` condition per SLO and severity whose rules are breached now."""
    out: list[Condition] = []
    for status in statuses:
        slo = status.slo
        for severity in ("page", "ticket"):
            breached = [r for r in slo.rules if r.severity == severity and rule_breached(status, r)]
            if not breached:
                continue
            rule = max(breached, key=lambda r: r.factor)
            out.append(_burn_condition(status, rule, severity, incidents, now, ui_url))
    return out


def _burn_condition(
    status: SloStatus,
    rule: BurnRateRule,
    severity: str,
    incidents: list[Incident],
    now: datetime,
    ui_url: str,
) -> Condition:
    slo = status.slo
    long_key, short_key = format_duration(rule.long_s), format_duration(rule.short_s)
    related = related_incidents(incidents, slo.service, now - timedelta(seconds=rule.long_s), now)
    best = _best(related)
    cause = root_cause_of(best) if best else None
    rates = status.burn_rates
    summary = (
        f"{slo.service}: SLO {slo.name} burning its error budget "
        f"{rates.get(long_key) or 0:.1f}x over {long_key} and "
        f"{rates.get(short_key) or 0:.1f}x over {short_key} (limit {rule.factor:g}x): "
        f"{_culprit_text(cause)}"
    )
    budget = status.error_budget_remaining
    left = f"{budget * 100:.1f}%" if budget is not None else "unknown"
    description = (
        f"SLI {_pct(status.sli)} against a target of {slo.target * 100:g}% over "
        f"{format_duration(slo.window_s)}; error budget left {left}."
    )
    if cause is not None:
        description += f" Root cause: {cause.summary}"
    url = f"{ui_url}/incidents/{best.id}" if best else f"{ui_url}/slos/{slo.name}"
    return Condition(
        kind="burn_rate",
        name=f"{slo.name}:{severity}",
        severity=severity,
        service=slo.service,
        slo=slo.name,
        summary=summary,
        description=description,
        root_cause=cause,
        incidents=tuple(i.id for i in sorted(related, key=lambda i: i.start)),
        url=url,
    )


def _pct(value: float | None) -> str:
    return f"{value * 100:.3f}%" if value is not None else "n/a (no traffic)"
