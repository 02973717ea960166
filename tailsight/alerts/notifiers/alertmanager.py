"""Alerts pushed to Alertmanager's ``/api/v2/alerts`` the way Prometheus pushes them.

A postable alert is ``{labels, annotations, startsAt, endsAt, generatorURL}``. As in
Prometheus, a firing alert's ``endsAt`` is a lease in the future (Prometheus: 4× its resend
interval): Alertmanager resolves the alert by itself when the lease runs out, so a dead
tailsight never leaves an alert firing forever. The alert lifecycle therefore re-sends a
firing alert to this notifier every :attr:`AlertmanagerNotifier.resend_interval_s`; a
resolved alert is sent with ``endsAt`` at its end, in the past, which resolves it at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tailsight.alerts.model import Alert
from tailsight.alerts.notifiers._http import post_json
from tailsight.alerts.notifiers.base import NotifierSpec, public_url, url_secrets
from tailsight.model import iso

KEYS = frozenset({"url", "valid_for_s"})
DEFAULT_VALID_FOR_S = 3600.0


def postable_alerts(alert: Alert, *, valid_for_s: float, now: datetime) -> list[dict[str, Any]]:
    """The request body: a list of one postable alert (Alertmanager API v2 ``postableAlerts``)."""
    if alert.state == "resolved":
        ends_at = min(alert.ends_at or now, now)
    else:
        ends_at = now + timedelta(seconds=valid_for_s)
    return [
        {
            # Alertmanager treats an empty label as absent, as Prometheus does.
            "labels": {k: v for k, v in alert.labels.items() if v},
            "annotations": {k: v for k, v in alert.annotations.items() if v},
            "startsAt": iso(alert.starts_at),
            "endsAt": iso(ends_at),
            "generatorURL": alert.url,
        }
    ]


class AlertmanagerNotifier:
    """Posts alerts to one Alertmanager (``url`` is its base, e.g. ``http://am:9093``)."""

    def __init__(self, name: str, url: str, *, valid_for_s: float = DEFAULT_VALID_FOR_S) -> None:
        self.name = name
        self._endpoint = url.rstrip("/") + "/api/v2/alerts"
        self._secrets = url_secrets(url)
        self.valid_for_s = valid_for_s

    @property
    def resend_interval_s(self) -> float:
        """How often a firing alert must be re-sent so its lease never runs out."""
        return self.valid_for_s / 4

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier(name={self.name!r}, url={public_url(self._endpoint)!r})"

    async def notify(self, alert: Alert) -> None:
        body = postable_alerts(alert, valid_for_s=self.valid_for_s, now=datetime.now(UTC))
        await post_json(self._endpoint, body, secrets=self._secrets)


def from_spec(spec: NotifierSpec) -> AlertmanagerNotifier:
    spec.check_keys(KEYS)
    return AlertmanagerNotifier(
        spec.name,
        spec.http_url("url"),
        valid_for_s=spec.number("valid_for_s", DEFAULT_VALID_FOR_S),
    )
