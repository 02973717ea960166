"""IF-MIB (RFC 2863) and SNMPv2-MIB objects the poller reads, and one port's reading.

Octet and packet counts come from ``ifXTable``'s 64-bit ``ifHC*`` columns; a port whose
agent lacks them (old agents, some management ports) falls back to ``ifTable``'s 32-bit
columns, which wrap every 34 s at 1 Gbit/s, so each raw counter carries its width.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tailsight.collectors.snmp.client import Oid, SnmpClient, Table, Value

SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: Oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)

_IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
_IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)

IF_DESCR = (*_IF, 2)
IF_SPEED = (*_IF, 5)
IF_OPER_STATUS = (*_IF, 8)
IF_NAME = (*_IFX, 1)
IF_HIGH_SPEED = (*_IFX, 15)

# counter name -> (64-bit ifXTable column, 32-bit ifTable fallback or None)
# Discards and errors exist only as Counter32 in IF-MIB.
COUNTERS: dict[str, tuple[Oid | None, Oid]] = {
    "in_octets": ((*_IFX, 6), (*_IF, 10)),
    "out_octets": ((*_IFX, 10), (*_IF, 16)),
    "in_ucast": ((*_IFX, 7), (*_IF, 11)),
    "out_ucast": ((*_IFX, 11), (*_IF, 17)),
    "in_mcast": ((*_IFX, 8), (*_IFX, 2)),
    "out_mcast": ((*_IFX, 12), (*_IFX, 4)),
    "in_bcast": ((*_IFX, 9), (*_IFX, 3)),
    "out_bcast": ((*_IFX, 13), (*_IFX, 5)),
    "in_discards": (None, (*_IF, 13)),
    "out_discards": (None, (*_IF, 19)),
    "in_errors": (None, (*_IF, 14)),
    "out_errors": (None, (*_IF, 20)),
}

BASE_COLUMNS: tuple[Oid, ...] = (
    IF_DESCR,
    IF_SPEED,
    IF_OPER_STATUS,
    IF_NAME,
    IF_HIGH_SPEED,
    *(hc if hc is not None else c32 for hc, c32 in COUNTERS.values()),
)
# Walked only when some port lacks its 64-bit counter.
FALLBACK_COLUMNS: tuple[Oid, ...] = tuple(c32 for hc, c32 in COUNTERS.values() if hc is not None)

OPER_UP = 1


@dataclass(frozen=True)
class PortReading:
    """One port as read in one poll: raw counters with their width in bits."""

    index: int
    name: str
    oper_status: int | None
    speed_bps: float | None
    counters: dict[str, tuple[int, int]] = field(default_factory=dict)


def _int(value: Value) -> int | None:
    return value if isinstance(value, int) else None


def _text(value: Value) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) and value else None


def ports_from_table(table: Table, include: re.Pattern[str] | None = None) -> list[PortReading]:
    """Join the walked columns by ifIndex into :class:`PortReading`s, sorted by ifIndex."""
    indexes = {row for col in (IF_DESCR, IF_NAME, IF_OPER_STATUS) for row in table.get(col, {})}
    ports = []
    for row in sorted(indexes):
        if len(row) != 1:
            continue

        def get(col: Oid, row: Oid = row) -> Value:
            return table.get(col, {}).get(row)

        name = _text(get(IF_NAME)) or _text(get(IF_DESCR)) or f"ifIndex{row[0]}"
        if include is not None and not include.search(name):
            continue
        high = _int(get(IF_HIGH_SPEED))
        low = _int(get(IF_SPEED))
        # ifSpeed saturates at 2^32-1 above 4 Gbit/s; ifHighSpeed (Mbit/s) is then the truth.
        speed = high * 1e6 if high else float(low) if low is not None else None
        counters: dict[str, tuple[int, int]] = {}
        for key, (hc, c32) in COUNTERS.items():
            raw = _int(get(hc)) if hc is not None else None
            if raw is not None:
                counters[key] = (raw, 64)
                continue
            raw = _int(get(c32))
            if raw is not None:
                counters[key] = (raw, 32)
        ports.append(PortReading(row[0], name, _int(get(IF_OPER_STATUS)), speed, counters))
    return ports


async def read_ports(
    client: SnmpClient, include: re.Pattern[str] | None = None
) -> list[PortReading]:
    """Walk IF-MIB on the agent and return its ports: 64-bit columns first, 32-bit where missing."""
    table = await client.walk(BASE_COLUMNS)
    rows = {row for col in (IF_DESCR, IF_NAME, IF_OPER_STATUS) for row in table.get(col, {})}
    missing = [
        c32
        for hc, c32 in COUNTERS.values()
        if hc is not None and any(row not in table.get(hc, {}) for row in rows)
    ]
    if missing:
        table.update(await client.walk(missing))
    return ports_from_table(table, include)
