"""Small durable key/value state of tailsight's own loops (``tailsight_state``)."""

from __future__ import annotations

from datetime import UTC, datetime

from tailsight.storage.store import Store


def get_state(store: Store, scope: str, key: str) -> str | None:
    """The newest value of ``scope``/``key``, or None."""
    rows = store.rows(
        "SELECT argMax(Value, UpdatedAt), count() FROM tailsight_state "
        "WHERE Scope = {scope:String} AND Key = {key:String}",
        {"scope": scope, "key": key},
    )
    return str(rows[0][0]) if rows and rows[0][1] else None


def set_state(store: Store, scope: str, key: str, value: str) -> None:
    store.insert(
        "tailsight_state",
        [(scope, key, value, datetime.now(UTC))],
        ["Scope", "Key", "Value", "UpdatedAt"],
    )


def latest_latency_window(
    store: Store, since: datetime, until: datetime | None = None
) -> datetime | None:
    """The start of the newest 10 s latency window in ``[since, until]``: how far data reaches."""
    if until is None:
        return _time(
            store,
            "SELECT max(Window), count() FROM tailsight_latency_10s "
            "WHERE Window >= toDateTime({since:DateTime64(3)})",
            since,
        )
    return _time(
        store,
        "SELECT max(Window), count() FROM tailsight_latency_10s "
        "WHERE Window >= toDateTime({since:DateTime64(3)}) "
        "AND Window <= toDateTime({until:DateTime64(3)})",
        since,
        {"until": until},
    )


def requests_after(store: Store, after: datetime) -> tuple[int, datetime | None]:
    """Requests (spans of services) dated after ``after``, and the newest window holding any."""
    rows = store.rows(
        "SELECT sum(Requests), max(Window), count() FROM tailsight_latency_10s "
        "WHERE Window > toDateTime({after:DateTime64(3)})",
        {"after": after},
    )
    if not rows or not rows[0][2]:
        return 0, None
    newest: datetime = rows[0][1]
    return int(rows[0][0]), newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest


def earliest_latency_window(store: Store) -> datetime | None:
    """The start of the oldest 10 s latency window stored: where a backfill begins."""
    return _time(store, "SELECT min(Window), count() FROM tailsight_latency_10s", None)


def earliest_open_incident(store: Store, since: datetime) -> datetime | None:
    """Onset of the oldest incident since ``since`` that was still open when last analysed."""
    return _time(
        store,
        "SELECT min(Start), count() FROM tailsight_incidents FINAL "
        "WHERE Deleted = 0 AND End IS NULL AND Start >= {since:DateTime64(3)}",
        since,
    )


def _time(
    store: Store, sql: str, since: datetime | None, more: dict[str, datetime] | None = None
) -> datetime | None:
    """The time in the first column of ``sql``'s one row, or None when its count is 0."""
    params: dict[str, datetime] = {"since": since} if since is not None else {}
    rows = store.rows(sql, {**params, **(more or {})})
    if not rows or not rows[0][1]:
        return None
    ts: datetime = rows[0][0]
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
