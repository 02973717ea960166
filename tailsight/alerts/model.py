"""What crosses the seams of alerting: an alert, its root cause and its deliveries (CONTRACT §7).

Alertmanager's model: labels identify an alert (its fingerprint is a hash of them),
annotations explain it; an alert fires once and is resolved once. These are frozen
values: the alert manager makes a new one for each change of state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tailsight.model import iso

KINDS = ("burn_rate", "incident")
SEVERITIES = ("page", "ticket")
STATES = ("firing", "resolved")


@dataclass(frozen=True)
class RootCause:
    """The top cause of the incident an alert carries (CONTRACT §4 cause, with its incident)."""

    kind: str
    service: str
    entity_type: str | None
    entity_id: str | None
    summary: str
    score: float
    incident_id: str

    @property
    def culprit(self) -> str:
        """``<type>:<id>`` of the culprit entity, or the cause kind when there is none."""
        if self.entity_type and self.entity_id:
            return f"{self.entity_type}:{self.entity_id}"
        return self.kind

    def to_json(self) -> dict[str, Any]:
        entity = (
            {"type": self.entity_type, "id": self.entity_id}
            if self.entity_type and self.entity_id
            else None
        )
        return {
            "kind": self.kind,
            "service": self.service,
            "entity": entity,
            "summary": self.summary,
            "score": self.score,
            "incident_id": self.incident_id,
        }


@dataclass(frozen=True)
class Delivery:
    """One attempt to tell a notifier about an alert's state."""

    notifier: str
    at: datetime
    ok: bool
    error: str | None = None
    state: str = "firing"  # the alert state that was notified
    attempt: int = 1
    culprit: str = ""  # the root cause's culprit the notification named ("" for none)

    def to_json(self) -> dict[str, Any]:
        return {
            "notifier": self.notifier,
            "at": iso(self.at),
            "ok": self.ok,
            "error": self.error,
            "state": self.state,
            "attempt": self.attempt,
            "culprit": self.culprit or None,
        }


@dataclass(frozen=True)
class Alert:
    """One alert, firing or resolved, as the API lists it and notifiers send it."""

    fingerprint: str
    kind: str  # burn_rate | incident
    name: str  # alertname: the SLO's rule ("llm-gateway-latency:1h/5m") or "incident:<service>"
    severity: str  # page | ticket
    service: str
    slo: str | None
    state: str  # firing | resolved
    starts_at: datetime
    ends_at: datetime | None
    summary: str  # first line: service, symptom, culprit
    description: str
    root_cause: RootCause | None
    incidents: tuple[str, ...]
    url: str
    silenced: bool = False
    acknowledged: bool = False
    deliveries: tuple[Delivery, ...] = field(default=())

    @property
    def labels(self) -> dict[str, str]:
        """Alertmanager labels: what identifies the alert and routes it."""
        out = {"alertname": self.name, "service": self.service, "severity": self.severity}
        if self.slo:
            out["slo"] = self.slo
        if self.root_cause is not None:
            out["cause_kind"] = self.root_cause.kind
            out["culprit"] = self.root_cause.culprit
        return out

    @property
    def annotations(self) -> dict[str, str]:
        """Alertmanager annotations: what explains the alert."""
        return {"summary": self.summary, "description": self.description, "url": self.url}

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "name": self.name,
            "severity": self.severity,
            "service": self.service,
            "slo": self.slo,
            "state": self.state,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at) if self.ends_at else None,
            "summary": self.summary,
            "description": self.description,
            "root_cause": self.root_cause.to_json() if self.root_cause else None,
            "incidents": list(self.incidents),
            "url": self.url,
            "silenced": self.silenced,
            "acknowledged": self.acknowledged,
            "labels": self.labels,
            "deliveries": [d.to_json() for d in self.deliveries],
        }
