"""A 48-port leaf in snmpsim: rates, a 32-bit wrap, an agent restart, PFC/ECN, LLDP, GETBULK."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailsight.collectors.snmp.client import SnmpTarget
from tailsight.collectors.snmp.mappings import resolve_vendor
from tailsight.collectors.snmp.poller import SwitchConfig, SwitchPoll, SwitchPoller, make_pollers
from tests.collectors.snmp.conftest import DATA, Snmpsim, series
from tests.collectors.snmp.data import make_leaf48 as leaf

pytestmark = pytest.mark.integration


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One event loop per test: a pysnmp engine stays bound to the loop it first ran on."""
    with asyncio.Runner() as r:
        yield r


class Timed:
    """A poll with the wall-clock window it ran in, to bound the true elapsed time."""

    def __init__(self, poller: SwitchPoller, runner: asyncio.Runner) -> None:
        self.before = time.monotonic()
        self.poll: SwitchPoll = runner.run(poller.poll())
        self.after = time.monotonic()
        assert self.poll.error is None, self.poll.error
        self.values = series(self.poll.points)


def assert_rate(first: Timed, second: Timed, key: tuple[str, str, str], rate: float) -> None:
    """The counter grew by ``rate`` × the elapsed time, which lies within the polls' windows."""
    delta = second.values[key] - first.values[key]
    shortest, longest = second.before - first.after, second.after - first.before
    assert rate * shortest * 0.98 <= delta <= rate * longest * 1.02 + 1, (key, delta, rate)


def leaf_poller(sim: Snmpsim, vendor: str | None = None) -> SwitchPoller:
    target = SnmpTarget("127.0.0.1", sim.ports[0], community=sim.community, timeout_s=2.0)
    mapping = resolve_vendor(vendor, DATA) if vendor else None
    [poller] = make_pollers([SwitchConfig("leaf48", target, vendor=mapping)])
    return poller


def uptime_s(poller: SwitchPoller) -> float:
    assert poller._last_uptime is not None
    return poller._last_uptime[0] / 100


def test_rates_wrap_restart_pfc_ecn_lldp(snmpsim: Snmpsim, runner: asyncio.Runner) -> None:
    poller = leaf_poller(snmpsim, "leaf-site.yaml")
    first = Timed(poller, runner)
    assert first.poll.ports == leaf.PORTS + 1
    # mgmt0's 32-bit ifInOctets wraps WRAP_AFTER_S after the agent starts, then every
    # 2**32 / MGMT_RATE s (~61 s). A wrap is told from a reset by a drop of more than half the
    # range, so the polls around it must lie within half a period, the first one late in the
    # count. A first poll that came late on a busy machine (past the first wrap) is taken
    # again once the count is three quarters up: the polled value says when, not a timer.
    mgmt = ("tailsight.switch.port.io", "mgmt0", "receive")
    if first.values[mgmt] < 3 * 2**30:
        quarter = first.after + (3 * 2**30 - first.values[mgmt]) / leaf.MGMT_RATE
        time.sleep(max(0.0, quarter - time.monotonic()))
        first = Timed(poller, runner)
    # Wait for the next wrap (the value was read by first.after), then poll again.
    next_wrap = first.after + (2**32 - first.values[mgmt]) / leaf.MGMT_RATE
    time.sleep(max(1.5, next_wrap + 0.7 - time.monotonic()))
    second = Timed(poller, runner)

    for n in (1, 7, 12, 48):
        port = f"Ethernet1/{n}"
        assert_rate(first, second, ("tailsight.switch.port.io", port, "receive"), n * 1e6)
        assert_rate(first, second, ("tailsight.switch.port.io", port, "transmit"), n * 5e5)
        # unicast advances; multicast and broadcast are constant
        assert_rate(first, second, ("tailsight.switch.port.packet.count", port, "receive"), n * 1e3)
    c = leaf.CONGESTED
    cong = f"Ethernet1/{c}"
    assert_rate(first, second, ("tailsight.switch.port.discards", cong, "receive"), 50)
    assert_rate(first, second, ("tailsight.switch.port.discards", cong, "transmit"), 20)
    assert_rate(first, second, ("tailsight.switch.port.errors", "Ethernet1/12", "receive"), 2)
    assert_rate(first, second, ("tailsight.switch.port.pfc.pause_frames", cong, "transmit"), 120)
    assert_rate(first, second, ("tailsight.switch.port.pfc.pause_frames", cong, "receive"), 500)
    # ECN rows of queues 3 and 4 are summed per port
    assert_rate(first, second, ("tailsight.switch.port.ecn_marked", cong, "transmit"), 2000)
    quiet = ("tailsight.switch.port.pfc.pause_frames", "Ethernet1/8", "receive")
    assert first.values[quiet] == second.values[quiet] == 0

    # mgmt0 has only 32-bit counters and wrapped between the polls: no drop, right rate.
    assert_rate(first, second, mgmt, leaf.MGMT_RATE)
    assert poller.counters.wraps >= 1
    assert poller.counters.resets == 0

    speeds = {k[1]: v for k, v in second.values.items() if k[0] == "tailsight.switch.port.speed"}
    assert speeds["Ethernet1/1"] == 100e9 and speeds["mgmt0"] == 1e9
    up = {k[1]: v for k, v in second.values.items() if k[0] == "tailsight.switch.port.up"}
    assert up["Ethernet1/48"] == 0 and up["Ethernet1/1"] == 1

    neighbors = {
        (
            str(p.attributes["network.interface.name"]),
            str(p.attributes["tailsight.neighbor.name"]),
            str(p.attributes["tailsight.neighbor.port"]),
        )
        for p in second.poll.points
        if p.metric == "tailsight.switch.lldp.neighbor"
    }
    assert neighbors == {
        ("Ethernet1/1", "gpu-node-01", "ens1f0"),
        ("Ethernet1/2", "gpu-node-02", "ens1f0"),
        ("Ethernet1/3", "gpu-node-03", "ens1f1"),
        ("Ethernet1/5", "gpu-node-05", "0c:42:a1:b2:c3:d4"),
    }

    # The switch reboots: sysUpTime goes back and every counter restarts from its initial
    # value. Cumulative sums keep growing by what was counted since the restart.
    uptime_before = uptime_s(poller)
    restarted_at = time.monotonic()
    snmpsim.restart()
    third = Timed(poller, runner)
    assert third.poll.restarted and poller.restarts == 1
    assert uptime_s(poller) < uptime_before
    since_boot = third.after - restarted_at
    for key, initial, rate in (
        (("tailsight.switch.port.io", "Ethernet1/7", "receive"), leaf.INITIAL * 7, 7e6),
        (("tailsight.switch.port.pfc.pause_frames", cong, "receive"), 0, 500),
        (("tailsight.switch.port.discards", cong, "receive"), 10 * c, 50),
    ):
        grown = third.values[key] - second.values[key]
        assert initial <= grown <= initial + rate * since_boot * 1.02 + 1, (key, grown)
    assert all(
        third.values[k] >= second.values[k]
        for k in second.values
        if k[0] != "tailsight.switch.port.speed"
    )


def test_getbulk_sizing_bounds_round_trips(snmpsim: Snmpsim, runner: asyncio.Runner) -> None:
    """Many rows per GETBULK, and truncated responses still give every row.

    snmpsim answers at most 51 varbinds per response (RFC 3416 truncation), so the walk
    must carry on from where each column stopped rather than trust max-repetitions.
    """
    big = leaf_poller(snmpsim)
    big_poll = runner.run(big.poll())
    small_target = SnmpTarget(
        "127.0.0.1", snmpsim.ports[0], community=snmpsim.community, max_repetitions=2
    )
    [small] = make_pollers([SwitchConfig("leaf48", small_target)])
    small_poll = runner.run(small.poll())
    assert small_poll.error is None and big_poll.error is None
    assert small_poll.ports == big_poll.ports == leaf.PORTS + 1
    assert set(series(small_poll.points)) == set(series(big_poll.points))
    # two rows per request: a request per two ports for the base columns, the 32-bit
    # fallback (mgmt0 lacks HC columns) and the LLDP local port table
    assert small.client.requests >= 3 * leaf.PORTS // 2
    assert big.client.requests * 2 < small.client.requests


def test_builtin_nxos_mapping_reads_pfc(snmpsim: Snmpsim, runner: asyncio.Runner) -> None:
    poller = leaf_poller(snmpsim, "cisco-nxos")
    values = Timed(poller, runner).values
    keys = {k for k in values if k[0] == "tailsight.switch.port.pfc.pause_frames"}
    assert len(keys) == leaf.PORTS * 2
    assert not any(k[0] == "tailsight.switch.port.ecn_marked" for k in values)


def test_site_mapping_file_is_relative_to_config(tmp_path: Path) -> None:
    mapping = resolve_vendor("leaf-site.yaml", DATA)
    assert [c.metric for c in mapping.columns].count("tailsight.switch.port.ecn_marked") == 1
