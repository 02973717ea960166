"""Reading and writing incidents with their ranked causes and evidence."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tailsight.model import Cause, Entity, Evidence, Incident
from tailsight.storage.store import Store
from tailsight.timeutil import EARLIEST, LATEST

_COLUMNS = (
    "Id",
    "Service",
    "Operation",
    "Start",
    "End",
    "P99Ms",
    "BaselineP99Ms",
    "RequestCount",
    "Causes.Kind",
    "Causes.Score",
    "Causes.Service",
    "Causes.EntityType",
    "Causes.EntityId",
    "Causes.Summary",
    "Causes.Evidence",
    "Source",
    "UpdatedAt",
    "Deleted",
)


def _row(incident: Incident, source: str, now: datetime, deleted: int = 0) -> tuple[Any, ...]:
    causes = sorted(incident.causes, key=lambda c: -c.score)
    return (
        incident.id,
        incident.service,
        incident.operation,
        incident.start,
        incident.end,
        float(incident.p99_ms),
        float(incident.baseline_p99_ms),
        int(incident.request_count),
        [c.kind for c in causes],
        [float(c.score) for c in causes],
        [c.service for c in causes],
        [c.entity.type if c.entity else "" for c in causes],
        [c.entity.id if c.entity else "" for c in causes],
        [c.summary for c in causes],
        [json.dumps([e.to_json() for e in c.evidence]) for c in causes],
        source,
        now,
        deleted,
    )


def replace_incidents(
    store: Store,
    start: datetime,
    end: datetime,
    incidents: Sequence[Incident],
    source: str = "analyze",
) -> None:
    """Make ``incidents`` the incidents whose onset lies in ``[start, end)``.

    Incidents found again keep their id and are overwritten; those of the range that
    were not found again are tombstoned. Readers never see duplicates.
    """
    if not (EARLIEST <= start < end <= LATEST):
        # A range the store's DateTime columns cannot hold reads as empty: replacing it
        # would tombstone every incident in it.
        raise ValueError(f"cannot replace incidents of the range {start} .. {end}")
    now = datetime.now(UTC)
    keep = {i.id for i in incidents}
    stale = [
        inc
        for inc in _select(
            store,
            "Start >= {start:DateTime64(3)} AND Start < {end:DateTime64(3)}",
            {"start": start, "end": end},
        )
        if inc.id not in keep
    ]
    rows = [_row(i, source, now) for i in incidents] + [_row(i, source, now, 1) for i in stale]
    slis = [(i.id, i.sli, i.model, now) for i in incidents if i.sli]
    if slis:
        # First: a reader that sees the incident sees what its p99 is of.
        store.insert("tailsight_incident_slis", slis, ["Id", "Sli", "Model", "UpdatedAt"])
    scopes = [(i.id, i.scope, i.replica, now) for i in incidents if i.replica]
    if scopes:
        store.insert("tailsight_incident_scopes", scopes, ["Id", "Scope", "Replica", "UpdatedAt"])
    if rows:
        store.insert("tailsight_incidents", rows, _COLUMNS)


def list_incidents(
    store: Store, since: datetime, until: datetime | None = None, service: str | None = None
) -> list[Incident]:
    """Incidents overlapping ``[since, until)``, newest first."""
    where = ["(End IS NULL OR End >= {since:DateTime64(3)})"]
    params: dict[str, Any] = {"since": since}
    if until is not None:
        where.append("Start < {until:DateTime64(3)}")
        params["until"] = until
    if service:
        where.append("Service = {service:String}")
        params["service"] = service
    return _select(store, " AND ".join(where), params)


def _select(store: Store, where: str, params: dict[str, Any]) -> list[Incident]:
    sql = (
        f"SELECT {', '.join(_COLUMNS[:15])} FROM tailsight_incidents FINAL "
        f"WHERE Deleted = 0 AND {where} ORDER BY Start DESC, Id"
    )
    rows = store.rows(sql, params)
    return _with_slis(store, [(str(row[0]), _incident(row)) for row in rows]) if rows else []


def _with_slis(store: Store, found: list[tuple[str, Incident]]) -> list[Incident]:
    """The incidents (by stored id) with the LLM SLI and model, scope and replica of those that have one."""
    rows = store.rows(
        "SELECT Id, argMax(Sli, UpdatedAt), argMax(Model, UpdatedAt) "
        "FROM tailsight_incident_slis WHERE Id IN {ids:Array(String)} GROUP BY Id",
        {"ids": [stored for stored, _ in found]},
    )
    slis = {str(i): (str(sli), str(model)) for i, sli, model in rows}
    rows = store.rows(
        "SELECT Id, argMax(Scope, UpdatedAt), argMax(Replica, UpdatedAt) "
        "FROM tailsight_incident_scopes WHERE Id IN {ids:Array(String)} GROUP BY Id",
        {"ids": [stored for stored, _ in found]},
    )
    scopes = {str(i): (str(scope), str(replica)) for i, scope, replica in rows}
    out = []
    for stored, inc in found:
        if stored in slis:
            inc = replace(inc, sli=slis[stored][0], model=slis[stored][1])
        if stored in scopes:
            inc = replace(inc, scope=scopes[stored][0], replica=scopes[stored][1])
        out.append(inc)
    return out


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _incident(row: Sequence[Any]) -> Incident:
    (
        _id,
        service,
        operation,
        start,
        end,
        p99,
        base,
        count,
        kinds,
        scores,
        services,
        etypes,
        eids,
        summaries,
        evidences,
    ) = row
    causes = tuple(
        Cause(
            kind=kind,
            score=float(score),
            service=svc,
            entity=Entity(etype, eid) if etype else None,
            summary=summary,
            evidence=tuple(Evidence(**e) for e in json.loads(ev or "[]")),
        )
        for kind, score, svc, etype, eid, summary, ev in zip(
            kinds, scores, services, etypes, eids, summaries, evidences, strict=True
        )
    )
    start_utc = _utc(start)
    assert start_utc is not None
    return Incident(
        service=service,
        start=start_utc,
        end=_utc(end),
        p99_ms=float(p99),
        baseline_p99_ms=float(base),
        operation=operation,
        request_count=int(count),
        causes=causes,
    )


def get_incident(store: Store, incident_id: str) -> Incident | None:
    """The incident with ``incident_id`` (CONTRACT §4 ``id``), or ``None``."""
    found = _select(store, "Id = {id:String}", {"id": incident_id})
    return found[0] if found else None
