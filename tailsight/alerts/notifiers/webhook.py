"""The Alertmanager webhook (``"version": "4"``) JSON, posted to any receiver that reads it.

Each alert is its own group of one, as Alertmanager would send it with
``group_by: [alertname, service]``: ``groupKey`` is ``{}:{alertname="…", service="…"}``
in Alertmanager's own notation, and the common labels and annotations are the alert's.
A firing alert's ``endsAt`` is Go's zero time, as Alertmanager writes it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tailsight.alerts.model import Alert
from tailsight.alerts.notifiers._http import post_json
from tailsight.alerts.notifiers.base import NotifierSpec, public_url, url_secrets
from tailsight.model import iso

KEYS = frozenset({"url"})
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
GROUP_BY = ("alertname", "service")


def group_key(labels: dict[str, str]) -> str:
    """Alertmanager's ``<route>:<group labels>`` key, labels sorted and Go-quoted."""
    inner = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
    return "{}:{" + inner + "}"


def webhook_payload(
    alert: Alert, *, receiver: str, external_url: str | None, now: datetime
) -> dict[str, Any]:
    """The webhook v4 message for one alert."""
    labels = {k: v for k, v in alert.labels.items() if v}
    annotations = {k: v for k, v in alert.annotations.items() if v}
    resolved = alert.state == "resolved"
    group_labels = {k: labels[k] for k in GROUP_BY if k in labels}
    return {
        "version": "4",
        "groupKey": group_key(group_labels),
        "truncatedAlerts": 0,
        "status": alert.state,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url or "",
        "alerts": [
            {
                "status": alert.state,
                "labels": labels,
                "annotations": annotations,
                "startsAt": iso(alert.starts_at),
                "endsAt": iso(alert.ends_at or now) if resolved else GO_ZERO_TIME,
                "generatorURL": alert.url,
                "fingerprint": alert.fingerprint,
            }
        ],
    }


class WebhookNotifier:
    """Posts the webhook v4 JSON to ``url``; ``receiver`` is this notifier's name."""

    def __init__(self, name: str, url: str, *, external_url: str | None = None) -> None:
        self.name = name
        self._url = url
        self._secrets = url_secrets(url)
        self.external_url = external_url

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r}, url={public_url(self._url)!r})"

    async def notify(self, alert: Alert) -> None:
        body = webhook_payload(
            alert, receiver=self.name, external_url=self.external_url, now=datetime.now(UTC)
        )
        await post_json(self._url, body, secrets=self._secrets)


def from_spec(spec: NotifierSpec) -> WebhookNotifier:
    spec.check_keys(KEYS)
    return WebhookNotifier(spec.name, spec.http_url("url"), external_url=spec.external_url)
