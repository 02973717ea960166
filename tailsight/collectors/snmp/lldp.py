"""LLDP-MIB (IEEE 802.1AB) neighbor table: which host or switch sits behind each port.

The switch's view of the topology complements the node agent's ``tailsight.nic.link``:
the poller emits ``tailsight.switch.lldp.neighbor`` (value 1) per neighbor with the
local port as ``network.interface.name``, the neighbor's ``lldpRemSysName`` as
``tailsight.neighbor.name`` (a node's ``host.name`` or another switch's name) and its
``lldpRemPortId`` as ``tailsight.neighbor.port`` (the node's interface name when its
LLDP daemon sends names, as lldpd does by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tailsight.collectors.snmp.client import Oid, SnmpClient, Table, Value

_LLDP = (1, 0, 8802, 1, 1, 2, 1)
LOC_PORT_ID_SUBTYPE = (*_LLDP, 3, 7, 1, 2)
LOC_PORT_ID = (*_LLDP, 3, 7, 1, 3)
LOC_PORT_DESC = (*_LLDP, 3, 7, 1, 4)
REM_PORT_ID_SUBTYPE = (*_LLDP, 4, 1, 1, 6)
REM_PORT_ID = (*_LLDP, 4, 1, 1, 7)
REM_SYS_NAME = (*_LLDP, 4, 1, 1, 9)
COLUMNS: tuple[Oid, ...] = (
    LOC_PORT_ID_SUBTYPE,
    LOC_PORT_ID,
    LOC_PORT_DESC,
    REM_PORT_ID_SUBTYPE,
    REM_PORT_ID,
    REM_SYS_NAME,
)

_MAC_ADDRESS = 3  # LldpPortIdSubtype macAddress(3): six raw bytes


@dataclass(frozen=True)
class Neighbor:
    """One LLDP neighbor: local port name, remote system name, remote port id."""

    local_port: str
    remote_name: str
    remote_port: str


def _text(value: Value, subtype: Value = None) -> str:
    if isinstance(value, bytes):
        if subtype == _MAC_ADDRESS or len(value) == 6:
            return ":".join(f"{b:02x}" for b in value)
        return value.decode(errors="replace")
    return "" if value is None else str(value)


def neighbors_from_table(table: Table, port_names: Mapping[int, str]) -> list[Neighbor]:
    """Join the remote table with local ports; ``port_names`` is ifIndex → ifName.

    ``lldpLocPortNum`` equals the ifIndex on most agents, but not all, so the local port's
    own id or description is preferred where it names a known interface.
    """
    names = set(port_names.values())
    local: dict[int, str] = {}
    for row, value in table.get(LOC_PORT_ID, {}).items():
        for candidate in (_text(value), _text(table.get(LOC_PORT_DESC, {}).get(row))):
            if candidate in names:
                local[row[0]] = candidate
                break
    out = []
    for row, sys_name in sorted(table.get(REM_SYS_NAME, {}).items()):
        if len(row) != 3:  # lldpRemTimeMark.lldpRemLocalPortNum.lldpRemIndex
            continue
        port_num = row[1]
        local_port = local.get(port_num) or port_names.get(port_num) or f"lldpPort{port_num}"
        subtype = table.get(REM_PORT_ID_SUBTYPE, {}).get(row)
        remote_port = _text(table.get(REM_PORT_ID, {}).get(row), subtype)
        out.append(Neighbor(local_port, _text(sys_name), remote_port))
    return out


async def read_neighbors(client: SnmpClient, port_names: Mapping[int, str]) -> list[Neighbor]:
    return neighbors_from_table(await client.walk(COLUMNS), port_names)
