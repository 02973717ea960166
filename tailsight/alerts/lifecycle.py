"""The alert lifecycle: firing, then resolved once; who is told what, and when (pure functions).

Each evaluation, the rules (:mod:`tailsight.alerts.rules`) say which conditions hold now.
:func:`advance` turns them into alert episodes:

- a condition with no firing episode starts one (``firing``, ``starts_at`` = now). There
  is no pending period: a burn-rate rule's short window and the spike detector's run of
  anomalous windows are the debounce already, and waiting longer would only delay a page;
- while its condition holds, a firing episode takes the newest root cause and incidents;
- an episode resolves once its condition has been absent for ``resolve_delay_s``. A
  condition that comes back within the delay continues the same episode, so a flapping
  burn rate or two incidents in quick succession page once, not twice.

:func:`due_notifications` then decides, per episode and notifier, from the delivery
history (persisted, so a restart changes nothing): a firing episode is sent once, and
again every ``repeat_interval_s`` until acknowledged; a resolved episode is sent once as
resolved to each notifier that was told it fired. A failed attempt is retried with
backoff. A silenced episode is not sent until the silence ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tailsight.alerts.model import Alert, Delivery, RootCause
from tailsight.alerts.silences import Silence, silenced


@dataclass(frozen=True)
class Timing:
    """How the lifecycle debounces and repeats."""

    resolve_delay_s: float = 120.0
    repeat_interval_s: float = 4 * 3600.0
    retry_first_s: float = 15.0  # after a failed delivery; doubles per failure up to retry_max_s
    retry_max_s: float = 600.0
    resolved_give_up_s: float = 86400.0  # stop trying to send a resolve after this long


@dataclass(frozen=True)
class Condition:
    """What one rule says holds now: the alert it would fire, without lifecycle state."""

    kind: str
    name: str
    severity: str
    service: str
    slo: str | None
    summary: str
    description: str
    root_cause: RootCause | None
    incidents: tuple[str, ...]
    url: str

    @property
    def fingerprint(self) -> str:
        """Hash of the identifying labels: the same rule on the same service keeps its alert."""
        ident = {"alertname": self.name, "service": self.service, "severity": self.severity}
        if self.slo:
            ident["slo"] = self.slo
        text = "\x00".join(f"{k}={v}" for k, v in sorted(ident.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Episode:
    """One firing of a fingerprint, from ``alert.starts_at`` to its resolution."""

    alert: Alert
    last_active_at: datetime

    @property
    def key(self) -> tuple[str, datetime]:
        return (self.alert.fingerprint, self.alert.starts_at)


def advance(
    episodes: Mapping[str, Episode],
    conditions: Iterable[Condition],
    now: datetime,
    timing: Timing,
) -> list[Episode]:
    """The episodes that start, change or resolve now. ``episodes``: the latest per fingerprint."""
    # Times as the store keeps them (milliseconds): an episode's key is the same before
    # and after it is read back, so its deliveries in flight are recognised as its own.
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    changed: list[Episode] = []
    seen: set[str] = set()
    for cond in conditions:
        fp = cond.fingerprint
        if fp in seen:
            continue
        seen.add(fp)
        current = episodes.get(fp)
        if current is None or current.alert.state == "resolved":
            alert = Alert(
                fingerprint=fp,
                kind=cond.kind,
                name=cond.name,
                severity=cond.severity,
                service=cond.service,
                slo=cond.slo,
                state="firing",
                starts_at=now,
                ends_at=None,
                summary=cond.summary,
                description=cond.description,
                root_cause=cond.root_cause,
                incidents=cond.incidents,
                url=cond.url,
            )
            changed.append(Episode(alert, now))
            continue
        alert = replace(
            current.alert,
            summary=cond.summary,
            description=cond.description,
            root_cause=cond.root_cause or current.alert.root_cause,
            incidents=tuple(dict.fromkeys(current.alert.incidents + cond.incidents)),
            url=cond.url,
        )
        changed.append(Episode(alert, now))
    for fp, current in episodes.items():
        if fp in seen or current.alert.state != "firing":
            continue
        quiet = (now - current.last_active_at).total_seconds()
        if quiet >= timing.resolve_delay_s:
            changed.append(replace(current, alert=replace(current.alert, state="resolved", ends_at=now)))
    return changed


def due_notifications(
    episodes: Iterable[Episode],
    deliveries: Mapping[tuple[str, datetime], list[Delivery]],
    notifiers: Mapping[str, float | None],
    silences: list[Silence],
    now: datetime,
    timing: Timing,
) -> list[tuple[Alert, str]]:
    """(alert, notifier) pairs to send now; the alert's ``state`` says firing or resolved.

    ``notifiers`` maps each name to the interval at which that notifier must be re-sent a
    firing alert to keep it alive (Alertmanager's lease), or None to use the repeat interval.
    """
    due: list[tuple[Alert, str]] = []
    for episode in episodes:
        alert = episode.alert
        history = deliveries.get(episode.key, [])
        muted = silenced(alert.labels, silences, now)
        for name, resend_s in notifiers.items():
            mine = [d for d in history if d.notifier == name]
            if _due(alert, mine, muted, now, timing, resend_s):
                due.append((alert, name))
    return due


def _due(
    alert: Alert,
    mine: list[Delivery],
    muted: bool,
    now: datetime,
    timing: Timing,
    resend_s: float | None,
) -> bool:
    fired = [d for d in mine if d.ok and d.state == "firing"]
    if alert.state == "firing":
        if muted:
            return False
        if fired:
            if _culprit_found(alert, fired):
                return _retry_allowed([d for d in mine if d.state == "firing"], now, timing)
            if alert.acknowledged and resend_s is None:  # a lease is kept alive regardless
                return False
            last = max(d.at for d in fired)
            every = timing.repeat_interval_s if resend_s is None else resend_s
            if (now - last).total_seconds() < every:
                return False
        return _retry_allowed([d for d in mine if d.state == "firing"], now, timing)
    # resolved: once, to each notifier that was told it fired
    if not fired or any(d.ok and d.state == "resolved" for d in mine):
        return False
    if alert.ends_at and (now - alert.ends_at).total_seconds() > timing.resolved_give_up_s:
        return False
    return _retry_allowed([d for d in mine if d.state == "resolved"], now, timing)


def _culprit_found(alert: Alert, fired: list[Delivery]) -> bool:
    """The page went out before the analysis named a culprit, and now it has one: tell again.

    A spike pages while it is young, sometimes before its evidence has grown enough to
    name the cause; the on-call engineer then gets the culprit as soon as it is known.
    """
    cause = alert.root_cause
    if cause is None or cause.kind == "unknown":
        return False
    last = max(fired, key=lambda d: d.at)
    return last.culprit in ("", "unknown")


def _retry_allowed(attempts: list[Delivery], now: datetime, timing: Timing) -> bool:
    """After ``n`` failed rounds since the last success, wait ``retry_first_s * 2**(n-1)`` (capped).

    A round is one delivery with its immediate retries (attempts 1, 2, … of the notifier).
    """
    failures = 0
    last: datetime | None = None
    for d in sorted(attempts, key=lambda d: d.at):
        if d.ok:
            failures = 0
        elif d.attempt == 1:
            failures += 1
        last = d.at
    if failures == 0 or last is None:
        return True
    wait = min(timing.retry_first_s * 2 ** (failures - 1), timing.retry_max_s)
    return now - last >= timedelta(seconds=wait)
