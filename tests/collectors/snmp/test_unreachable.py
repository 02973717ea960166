"""One switch that never answers among ten that do: it delays none of them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from tailsight.collectors.snmp.client import SnmpTarget
from tailsight.collectors.snmp.poller import SwitchConfig, make_pollers, poll_all
from tests.collectors.snmp.conftest import Snmpd

pytestmark = pytest.mark.integration

DEAD_TIMEOUT_S = 2.0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback UDP port that is bound (no ICMP unreachable) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_unreachable_switch_delays_no_one(
    snmpd_ten: list[Snmpd], silent_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy = [
        SwitchConfig(f"leaf{i}", SnmpTarget("127.0.0.1", a.port, timeout_s=2.0))
        for i, a in enumerate(snmpd_ten)
    ]
    dead = SwitchConfig(
        "leaf-dead",
        SnmpTarget("127.0.0.1", silent_port, timeout_s=DEAD_TIMEOUT_S, retries=1, backoff_s=0.2),
    )
    configs = [*healthy[:5], dead, *healthy[5:]]

    async def both() -> tuple[list, list, list]:  # type: ignore[type-arg]
        pollers = make_pollers(configs)
        alone = await poll_all([p for p in pollers if p.config.name != "leaf-dead"])
        together = await poll_all(pollers)
        bounded = await poll_all(pollers, deadline_s=1.0)
        return alone, together, bounded

    alone, together, bounded = asyncio.run(both())
    dead_poll = next(p for p in together if p.switch == "leaf-dead")
    live = [p for p in together if p.switch != "leaf-dead"]
    # the dead switch used its own timeout and retry, and failed with one line
    assert dead_poll.error and "\n" not in dead_poll.error and not dead_poll.points
    assert dead_poll.duration_s >= 2 * DEAD_TIMEOUT_S
    # every healthy switch finished before the dead one's first timeout even fired
    assert len(live) == 10 and all(p.error is None and p.points for p in live)
    assert max(p.duration_s for p in live) < DEAD_TIMEOUT_S
    # a poll deadline cuts the dead switch short and still leaves the others whole
    cut = next(p for p in bounded if p.switch == "leaf-dead")
    assert cut.error and "deadline" in cut.error
    assert all(p.error is None for p in bounded if p.switch != "leaf-dead")
    with capsys.disabled():
        print(
            f"\n  healthy alone max {max(p.duration_s for p in alone):.3f}s, with a dead switch "
            f"max {max(p.duration_s for p in live):.3f}s; dead switch {dead_poll.duration_s:.3f}s "
            f"(worst case {dead.target.worst_case_s():.1f}s); with 1s deadline {cut.duration_s:.3f}s"
        )
