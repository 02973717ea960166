"""The alert manager: evaluates the rules, advances alert state, and sends what is due.

One :meth:`AlertManager.evaluate` reads the SLO states and incidents, turns the rules'
conditions into episodes (:mod:`tailsight.alerts.lifecycle`), persists them, and starts
a delivery for each (alert, notifier) pair that is due. Deliveries run as tasks of their
own: a slow or failing notifier never holds up an evaluation or another notifier, and
each attempt is written to the store as it ends, so a restart knows what was sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from tailsight.alerts.evaluate import evaluate_slos
from tailsight.alerts.lifecycle import Episode, Timing, advance, due_notifications
from tailsight.alerts.model import Alert, Delivery
from tailsight.alerts.rules import burn_rate_conditions, incident_conditions
from tailsight.alerts.slo import SloCatalog, SloStatus
from tailsight.storage.alerts import (
    deliveries_of,
    latest_episodes,
    list_silences,
    record_delivery,
    save_episodes,
)
from tailsight.storage.incidents import list_incidents
from tailsight.storage.store import Store

log = logging.getLogger(__name__)

INCIDENT_LOOKBACK = timedelta(days=3)  # the longest burn-rate window

# Sends one alert to one notifier (with the notifier's own retries), reporting each attempt.
Send = Callable[[Alert, str, Callable[[Delivery], None]], Awaitable[None]]


@dataclass
class Evaluation:
    """What one evaluation saw and did."""

    at: datetime
    statuses: list[SloStatus] = field(default_factory=list)
    firing: int = 0
    changed: int = 0
    sent: int = 0


class AlertManager:
    """Evaluates SLOs and incidents into alerts and notifies; see the module docstring.

    Args:
        store: where incidents, SLO counts and alert state live.
        catalog: the SLO definitions (reloaded when their files change).
        notifiers: the configured notifiers' names, each with the interval at which it must
            be re-sent a firing alert (None: the repeat interval).
        send: delivers one alert to one named notifier.
        incident_alerts: ``slo`` pages on incidents of services with an SLO, ``all`` on any.
        ui_url: where alert links point.
    """

    def __init__(
        self,
        store: Store,
        catalog: SloCatalog,
        notifiers: Mapping[str, float | None],
        send: Send,
        *,
        incident_alerts: str = "slo",
        ui_url: str = "http://127.0.0.1:8050",
        timing: Timing | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.notifiers = dict(notifiers)
        self.send = send
        self.incident_alerts = incident_alerts
        self.ui_url = ui_url.rstrip("/")
        self.timing = timing or Timing()
        self.last: Evaluation | None = None
        self._lock = asyncio.Lock()
        self._in_flight: dict[tuple[str, datetime, str, str], asyncio.Task[None]] = {}

    async def evaluate(self, now: datetime | None = None) -> Evaluation:
        """One evaluation; evaluations never overlap."""
        async with self._lock:
            return await self._evaluate(now or datetime.now(UTC))

    async def _evaluate(self, now: datetime) -> Evaluation:
        if self.catalog.reload_if_changed():
            log.info("SLO definitions reloaded: %d SLO(s)", len(self.catalog.slos))
        slos = list(self.catalog.slos)
        statuses = await asyncio.to_thread(evaluate_slos, self.store, slos, now) if slos else []
        incidents = await asyncio.to_thread(list_incidents, self.store, now - INCIDENT_LOOKBACK)
        only = {s.service for s in slos} if self.incident_alerts == "slo" else None
        conditions = incident_conditions(incidents, only, now, self.ui_url)
        conditions += burn_rate_conditions(statuses, incidents, now, self.ui_url)
        since = now - timedelta(seconds=self.timing.resolved_give_up_s)
        episodes = await asyncio.to_thread(latest_episodes, self.store, since)
        changed = advance(episodes, conditions, now, self.timing)
        if changed:
            await asyncio.to_thread(save_episodes, self.store, changed)
        current = {**episodes, **{e.alert.fingerprint: e for e in changed}}
        for ep in changed:
            if ep.alert.fingerprint not in episodes or ep.alert.state != "firing":
                log.info("alert %s %s: %s", ep.alert.state, ep.alert.name, ep.alert.summary)
        sent = await self._notify(list(current.values()), now)
        firing = [e.alert for e in current.values() if e.alert.state == "firing"]
        self.last = Evaluation(now, statuses, len(firing), len(changed), sent)
        return self.last

    async def _notify(self, episodes: list[Episode], now: datetime) -> int:
        if not self.notifiers or not episodes:
            return 0
        # Deliveries in progress now: their attempts may land in the store after the history
        # below is read, so they are skipped by key. (A delivery leaves this set only after
        # its attempts are stored, so one that finished before the snapshot is in the history.)
        busy = set(self._in_flight)
        fps = [e.alert.fingerprint for e in episodes]
        history = await asyncio.to_thread(deliveries_of, self.store, fps)
        silences = await asyncio.to_thread(list_silences, self.store, now)
        due = due_notifications(episodes, history, self.notifiers, silences, now, self.timing)
        started = 0
        for alert, notifier in due:
            key = (alert.fingerprint, alert.starts_at, notifier, alert.state)
            if key in busy or key in self._in_flight:
                continue
            self._in_flight[key] = asyncio.create_task(self._deliver(key, alert, notifier))
            started += 1
        return started

    async def _deliver(self, key: tuple[str, datetime, str, str], alert: Alert, notifier: str) -> None:
        try:
            await self._send_recorded(alert, notifier)
        finally:
            self._in_flight.pop(key, None)

    async def _send_recorded(self, alert: Alert, notifier: str) -> None:
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[None]] = []

        culprit = alert.root_cause.culprit if alert.root_cause else ""

        def recorded(delivery: Delivery) -> None:
            delivery = replace(delivery, culprit=culprit)
            pending.append(loop.run_in_executor(None, record_delivery, self.store, alert, delivery))
            level = logging.INFO if delivery.ok else logging.WARNING
            log.log(level, "%s %s to %s: %s", alert.state, alert.name, notifier,
                    "sent" if delivery.ok else delivery.error)  # fmt: skip

        try:
            await self.send(alert, notifier, recorded)
        except Exception:  # a notifier's bug must not end the manager
            log.exception("delivery of %s to %s failed", alert.name, notifier)
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, Exception):  # sent but not recorded: it may be sent again
                log.warning("delivery of %s to %s not recorded: %s", alert.name, notifier, result)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for deliveries in progress (at shutdown), at most ``timeout_s``."""
        tasks = list(self._in_flight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
