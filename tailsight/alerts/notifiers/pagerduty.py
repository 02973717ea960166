"""PagerDuty Events API v2: ``trigger`` when an alert fires, ``resolve`` when it ends, and
``acknowledge`` when a firing alert sent again has been acknowledged in tailsight.

``dedup_key`` is the alert's fingerprint, so a repeated trigger updates the same
PagerDuty alert instead of opening another, and the resolve closes it. The routing key
(the integration key) is the secret.
"""

from __future__ import annotations

from typing import Any

from tailsight.alerts.model import Alert
from tailsight.alerts.notifiers._http import post_json
from tailsight.alerts.notifiers.base import REDACTED, NotifierSpec, public_url, url_secrets
from tailsight.model import iso

KEYS = frozenset({"routing_key", "url"})
DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"page": "critical", "ticket": "warning"}
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255


def pagerduty_event(
    alert: Alert, *, routing_key: str, client_url: str | None = None
) -> dict[str, Any]:
    """The Events API v2 body for ``alert``: a trigger, or a resolve of the same dedup_key."""
    dedup_key = alert.fingerprint[:DEDUP_KEY_MAX]
    if alert.state == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}
    if alert.acknowledged:  # acknowledged in tailsight: stop PagerDuty's escalation too
        return {"routing_key": routing_key, "event_action": "acknowledge", "dedup_key": dedup_key}
    cause = alert.root_cause
    summary = alert.summary
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary if len(summary) <= SUMMARY_MAX else summary[: SUMMARY_MAX - 1] + "…",
            "source": alert.service,
            "severity": SEVERITY.get(alert.severity, "error"),
            "timestamp": iso(alert.starts_at),
            "component": cause.culprit if cause else alert.service,
            "group": cause.service if cause else alert.service,
            "class": cause.kind if cause else alert.kind,
            "custom_details": {
                "alert": alert.name,
                "kind": alert.kind,
                "slo": alert.slo,
                "description": alert.description,
                "root_cause": cause.to_json() if cause else None,
                "incidents": list(alert.incidents),
                "labels": alert.labels,
            },
        },
        "client": "tailsight",
    }
    if client_url:
        event["client_url"] = client_url
    if alert.url:
        label = "Open incident in tailsight" if "/incidents/" in alert.url else "Open in tailsight"
        event["links"] = [{"href": alert.url, "text": label}]
    return event


class PagerDutyNotifier:
    """Sends events for one PagerDuty service (its integration's routing key)."""

    def __init__(
        self,
        name: str,
        routing_key: str,
        *,
        url: str = DEFAULT_URL,
        client_url: str | None = None,
    ) -> None:
        self.name = name
        self._routing_key = routing_key
        self._url = url
        self._secrets = (routing_key, *url_secrets(url))
        self.client_url = client_url

    def __repr__(self) -> str:
        return (
            f"PagerDutyNotifier(name={self.name!r}, url={public_url(self._url)!r}, "
            f"routing_key={REDACTED!r})"
        )

    async def notify(self, alert: Alert) -> None:
        body = pagerduty_event(alert, routing_key=self._routing_key, client_url=self.client_url)
        await post_json(self._url, body, secrets=self._secrets)


def from_spec(spec: NotifierSpec) -> PagerDutyNotifier:
    spec.check_keys(KEYS)
    return PagerDutyNotifier(
        spec.name,
        spec.text("routing_key"),
        url=spec.http_url("url", DEFAULT_URL),
        client_url=spec.external_url,
    )
