"""The poller against Debian's real net-snmp agent, checked with net-snmp's own snmpbulkwalk."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tailsight.collectors.snmp.client import SnmpTarget
from tailsight.collectors.snmp.poller import SwitchConfig, SwitchPoll, make_pollers
from tests.collectors.snmp.conftest import V3_AUTH, V3_PRIV, V3_USER, Snmpd, series

pytestmark = pytest.mark.integration

IFX = "1.3.6.1.2.1.31.1.1.1"
IFT = "1.3.6.1.2.1.2.2.1"


def bulkwalk(port: int, oid: str) -> dict[str, str]:
    """``snmpbulkwalk -On`` of one subtree: numeric OID → the value's text."""
    out = subprocess.run(
        ["snmpbulkwalk", "-m", "", "-On", "-Oq", "-Oe", "-v2c", "-c", "public"]
        + [f"127.0.0.1:{port}", oid],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    ).stdout
    rows = {}
    for line in out.splitlines():
        name, _, value = line.partition(" ")
        rows[name.lstrip(".")] = value.strip().strip('"')
    return rows


def column(rows: dict[str, str], col: str) -> dict[int, str]:
    prefix = col + "."
    return {int(k[len(prefix) :]): v for k, v in rows.items() if k.startswith(prefix)}


def poll_once(target: SnmpTarget, name: str = "leaf-snmpd", ports: str | None = None) -> SwitchPoll:
    [poller] = make_pollers([SwitchConfig(name, target, ports=ports)])
    return asyncio.run(poller.poll())


def test_interface_counters_match_snmpbulkwalk(snmpd: Snmpd) -> None:
    before_x = bulkwalk(snmpd.port, IFX)
    before_t = bulkwalk(snmpd.port, IFT)
    poll = poll_once(SnmpTarget("127.0.0.1", snmpd.port))
    after_x = bulkwalk(snmpd.port, IFX)
    assert poll.error is None
    names = column(after_x, f"{IFX}.1")
    values = series(poll.points)
    assert {k[1] for k in values} == set(names.values())
    assert poll.ports == len(names) >= 2  # lo and at least one more
    for index, name in names.items():
        # The agent's own traffic moves loopback counters while we poll: the poller's
        # reading lies between the walk before and the walk after.
        for col, metric, direction in (
            (6, "tailsight.switch.port.io", "receive"),
            (10, "tailsight.switch.port.io", "transmit"),
        ):
            low = int(column(before_x, f"{IFX}.{col}")[index])
            high = int(column(after_x, f"{IFX}.{col}")[index])
            assert low <= values[(metric, name, direction)] <= high, (name, metric, direction)
        packets_low = sum(int(column(before_x, f"{IFX}.{c}")[index]) for c in (7, 8, 9))
        packets_high = sum(int(column(after_x, f"{IFX}.{c}")[index]) for c in (7, 8, 9))
        value = values[("tailsight.switch.port.packet.count", name, "receive")]
        assert packets_low <= value <= packets_high
        for col, metric, direction in (
            (13, "tailsight.switch.port.discards", "receive"),
            (19, "tailsight.switch.port.discards", "transmit"),
            (14, "tailsight.switch.port.errors", "receive"),
            (20, "tailsight.switch.port.errors", "transmit"),
        ):
            assert values[(metric, name, direction)] == int(column(before_t, f"{IFT}.{col}")[index])
        high_speed = int(column(after_x, f"{IFX}.15")[index])
        speed = values[("tailsight.switch.port.speed", name, "")]
        assert speed == (
            high_speed * 1e6 if high_speed else int(column(before_t, f"{IFT}.5")[index])
        )
        oper = column(before_t, f"{IFT}.8")[index]
        assert values[("tailsight.switch.port.up", name, "")] == (1.0 if oper == "1" else 0.0)


def test_v3_auth_priv_reads_the_same_ports(snmpd: Snmpd) -> None:
    target = SnmpTarget(
        "127.0.0.1", snmpd.port, version="3", user=V3_USER, auth_key=V3_AUTH, priv_key=V3_PRIV
    )
    poll = poll_once(target, ports="^lo$")
    assert poll.error is None
    assert {p.attributes["network.interface.name"] for p in poll.points} == {"lo"}
    assert len([p for p in poll.points if p.metric == "tailsight.switch.port.io"]) == 2


def test_wrong_v3_key_fails_alone_with_one_line(snmpd: Snmpd) -> None:
    good = SwitchConfig("good", SnmpTarget("127.0.0.1", snmpd.port))
    bad = SwitchConfig(
        "bad",
        SnmpTarget(
            "127.0.0.1",
            snmpd.port,
            version="3",
            user=V3_USER,
            auth_key="not-the-key",
            priv_key=V3_PRIV,
            timeout_s=0.5,
            retries=0,
        ),
    )
    from tailsight.collectors.snmp.poller import poll_all

    polls = asyncio.run(poll_all(make_pollers([good, bad])))
    assert polls[0].error is None and polls[0].points
    assert polls[1].error and "\n" not in polls[1].error and not polls[1].points
