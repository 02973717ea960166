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


def latest_latency_window(store: Store, since: datetime) -> datetime | None:
    """The start of the newest 10 s latency window at or after ``since``: how far data reaches."""
    return _time(
        store,
        "SELECT max(Window), count() FROM tailsight_latency_10s "
        "WHERE Window >= toDateTime({since:DateTime64(3)})",
        since,
    )


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


def _time(store: Store, sql: str, since: datetime | None) -> datetime | None:
    """The time in the first column of ``sql``'s one row, or None when its count is 0."""
    rows = store.rows(sql, {"since": since} if since is not None else {})
    if not rows or not rows[0][1]:
        return None
    ts: datetime = rows[0][0]
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
