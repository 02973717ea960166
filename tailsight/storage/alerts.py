"""Reading and writing alert episodes, their deliveries and silences (migration 0013)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from tailsight.alerts.lifecycle import Episode
from tailsight.alerts.model import Alert, Delivery, RootCause
from tailsight.alerts.silences import Matcher, Silence
from tailsight.storage.store import Store

_ALERT_COLUMNS = (
    "Fingerprint",
    "StartsAt",
    "Kind",
    "Name",
    "Severity",
    "Service",
    "Slo",
    "State",
    "EndsAt",
    "LastActiveAt",
    "Summary",
    "Description",
    "RootCause",
    "Incidents",
    "Url",
    "Acknowledged",
    "AcknowledgedBy",
)
_DELIVERY_COLUMNS = (
    "Fingerprint",
    "StartsAt",
    "Notifier",
    "State",
    "At",
    "Ok",
    "Error",
    "Attempt",
    "Culprit",
)
_SILENCE_COLUMNS = ("Id", "Matchers", "StartsAt", "EndsAt", "CreatedBy", "Comment")


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _root_cause(text: str) -> RootCause | None:
    if not text:
        return None
    d = json.loads(text)
    entity = d.get("entity") or {}
    return RootCause(
        kind=d["kind"],
        service=d["service"],
        entity_type=entity.get("type"),
        entity_id=entity.get("id"),
        summary=d["summary"],
        score=float(d["score"]),
        incident_id=d["incident_id"],
    )


def _episode(row: Sequence[Any]) -> tuple[Episode, str]:
    (fp, starts, kind, name, sev, service, slo, state, ends, last, summary, desc, cause, incs, url,
     acked, acked_by) = row  # fmt: skip
    alert = Alert(
        fingerprint=fp,
        kind=kind,
        name=name,
        severity=sev,
        service=service,
        slo=slo or None,
        state=state,
        starts_at=_utc(starts),
        ends_at=_utc(ends) if ends is not None else None,
        summary=summary,
        description=desc,
        root_cause=_root_cause(cause),
        incidents=tuple(incs),
        url=url,
        acknowledged=bool(acked),
    )
    return Episode(alert, _utc(last)), acked_by


def _select_episodes(store: Store, where: str, params: dict[str, Any]) -> list[Episode]:
    sql = (
        f"SELECT {', '.join(_ALERT_COLUMNS)} FROM tailsight_alerts FINAL WHERE {where} "
        "ORDER BY StartsAt DESC, Fingerprint"
    )
    return [_episode(row)[0] for row in store.rows(sql, params)]


def latest_episodes(store: Store, ended_since: datetime) -> dict[str, Episode]:
    """Per fingerprint, its newest episode if it is firing or ended after ``ended_since``."""
    # A fingerprint's older episodes are all resolved, so filtering before LIMIT BY is exact.
    sql = (
        f"SELECT {', '.join(_ALERT_COLUMNS)} FROM tailsight_alerts FINAL "
        "WHERE State = 'firing' OR EndsAt >= {since:DateTime64(3)} "
        "ORDER BY StartsAt DESC LIMIT 1 BY Fingerprint"
    )
    out: dict[str, Episode] = {}
    for row in store.rows(sql, {"since": ended_since}):
        episode, _ = _episode(row)
        out[episode.alert.fingerprint] = episode
    return out


def save_episodes(store: Store, episodes: Iterable[Episode]) -> None:
    """Write the new state of ``episodes`` (each replaces its earlier version)."""
    now = datetime.now(UTC)
    rows = []
    for ep in episodes:
        a = ep.alert
        rows.append(
            (
                a.fingerprint,
                a.starts_at,
                a.kind,
                a.name,
                a.severity,
                a.service,
                a.slo or "",
                a.state,
                a.ends_at,
                ep.last_active_at,
                a.summary,
                a.description,
                json.dumps(a.root_cause.to_json()) if a.root_cause else "",
                list(a.incidents),
                a.url,
                int(a.acknowledged),
                "",
                now,
            )
        )
    if rows:
        store.insert("tailsight_alerts", rows, [*_ALERT_COLUMNS, "UpdatedAt"])


def record_delivery(store: Store, alert: Alert, delivery: Delivery) -> None:
    """Append one delivery attempt of ``alert``'s episode to its history."""
    store.insert(
        "tailsight_alert_deliveries",
        [
            (
                alert.fingerprint,
                alert.starts_at,
                delivery.notifier,
                delivery.state,
                delivery.at,
                int(delivery.ok),
                delivery.error or "",
                delivery.attempt,
                delivery.culprit,
            )
        ],
        _DELIVERY_COLUMNS,
    )


def deliveries_of(
    store: Store, fingerprints: Iterable[str]
) -> dict[tuple[str, datetime], list[Delivery]]:
    """Every delivery attempt of the episodes of ``fingerprints``, oldest first, by episode."""
    fps = sorted(set(fingerprints))
    out: dict[tuple[str, datetime], list[Delivery]] = {}
    if not fps:
        return out
    rows = store.rows(
        f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM tailsight_alert_deliveries "
        "WHERE Fingerprint IN {fps:Array(String)} ORDER BY At",
        {"fps": fps},
    )
    for fp, starts, notifier, state, at, ok, error, attempt, culprit in rows:
        out.setdefault((fp, _utc(starts)), []).append(
            Delivery(notifier, _utc(at), bool(ok), error or None, state, int(attempt), culprit)
        )
    return out


def list_alerts(
    store: Store, state: str = "all", since: datetime | None = None
) -> list[Alert]:
    """Alert episodes newest first, each with its deliveries; ``state`` firing, resolved or all."""
    where = ["1"]
    params: dict[str, Any] = {}
    if state in ("firing", "resolved"):
        where.append("State = {state:String}")
        params["state"] = state
    if since is not None:
        where.append("(EndsAt IS NULL OR EndsAt >= {since:DateTime64(3)})")
        params["since"] = since
    return _with_deliveries(store, _select_episodes(store, " AND ".join(where), params))


def _with_deliveries(store: Store, episodes: list[Episode]) -> list[Alert]:
    history = deliveries_of(store, [e.alert.fingerprint for e in episodes])
    return [
        Alert(**{**e.alert.__dict__, "deliveries": tuple(history.get(e.key, []))})
        for e in episodes
    ]


def acknowledge(store: Store, fingerprint: str, by: str = "") -> Alert | None:
    """Mark the newest episode of ``fingerprint`` acknowledged: no more repeats of its page."""
    found = _select_episodes(
        store, "Fingerprint = {fp:String}", {"fp": fingerprint}
    )
    if not found:
        return None
    episode = found[0]
    acked = Episode(Alert(**{**episode.alert.__dict__, "acknowledged": True}), episode.last_active_at)
    save_episodes(store, [acked])
    return acked.alert


def save_silence(store: Store, silence: Silence) -> None:
    store.insert(
        "tailsight_silences",
        [
            (
                silence.id,
                json.dumps([[m.name, m.op, m.value] for m in silence.matchers]),
                silence.starts_at,
                silence.ends_at,
                silence.created_by,
                silence.comment,
                datetime.now(UTC),
            )
        ],
        [*_SILENCE_COLUMNS, "UpdatedAt"],
    )


def list_silences(store: Store, active_at: datetime | None = None) -> list[Silence]:
    """Silences, newest first; only those in force at ``active_at`` when given."""
    where, params = "1", {}
    if active_at is not None:
        where = "StartsAt <= {at:DateTime64(3)} AND EndsAt > {at:DateTime64(3)}"
        params = {"at": active_at}
    rows = store.rows(
        f"SELECT {', '.join(_SILENCE_COLUMNS)} FROM tailsight_silences FINAL "
        f"WHERE {where} ORDER BY StartsAt DESC",
        params,
    )
    return [
        Silence(
            sid,
            tuple(Matcher(*m) for m in json.loads(matchers)),
            _utc(starts),
            _utc(ends),
            by,
            comment,
        )
        for sid, matchers, starts, ends, by, comment in rows
    ]


def firing_by_slo(store: Store) -> dict[str, int]:
    """How many alerts of each SLO fire now (``alerts_firing`` of ``GET /api/v1/slos``)."""
    rows = store.rows(
        "SELECT Slo, count() FROM tailsight_alerts FINAL "
        "WHERE State = 'firing' AND Slo != '' GROUP BY Slo"
    )
    return {str(slo): int(n) for slo, n in rows}


def alerts_between(store: Store, start: datetime, end: datetime) -> list[Alert]:
    """Alert episodes that fired at some time in ``[start, end)``, oldest first (weekly report)."""
    found = _select_episodes(
        store,
        "StartsAt < {end:DateTime64(3)} AND (EndsAt IS NULL OR EndsAt >= {start:DateTime64(3)})",
        {"start": start, "end": end},
    )
    return sorted((e.alert for e in found), key=lambda a: a.starts_at)


def alerts_of_incident(store: Store, incident_id: str) -> list[Alert]:
    """The alert episodes that carried ``incident_id``, newest first (the incident page's links)."""
    found = _select_episodes(store, "has(Incidents, {id:String})", {"id": incident_id})
    return _with_deliveries(store, found)
